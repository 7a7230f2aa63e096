"""What travels inside the encryption: message bodies, knocks, circle info, welcomes, rosters.

These are msgpack maps like frames, decoded with the same limits, but the server never sees
them (PROTOCOL.md 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import limits
from protocol.codec import (
    Bool,
    Bytes,
    FieldError,
    Int,
    ListOf,
    Nested,
    Opt,
    Str,
    Struct,
    Utf8,
    spec,
)

REACTIONS = ("i_hear_you", "same_here", "sending_strength", "thank_you")
"""The fixed set of supportive reactions (F8)."""
REACTION_LABELS = {
    "i_hear_you": "I hear you",
    "same_here": "same here",
    "sending_strength": "sending strength",
    "thank_you": "thank you",
}
MOODS = ("rough", "low", "okay", "good", "great")
ROLES = ("member", "co", "facilitator")

MessageRef = ListOf(Int(0, limits.MAX_SEQ), 3)
"""A message id: ``[sender, epoch, seq]``."""

Body = Utf8(limits.MAX_BODY)

MAX_SKIPPED = 8
Skipped = ListOf(Int(1, limits.MAX_SEQ), MAX_SKIPPED)
"""The sender's own numbers in this epoch that the server refused (muted, not their turn,
slow mode): never relayed, so receivers do not count them as gaps (PROTOCOL.md 5.5)."""


class _CharsAndBytes(Utf8):
    """At most ``max_chars`` characters and ``max_len`` bytes of UTF-8."""

    def __init__(self, max_chars: int, max_len: int) -> None:
        super().__init__(max_len)
        self.max_chars = max_chars

    def check(self, value: Any) -> str:
        text = super().check(value)
        if len(text) > self.max_chars:
            raise FieldError(f"longer than {self.max_chars} characters")
        return text


ConcernNote = _CharsAndBytes(limits.MAX_CONCERN_CHARS, limits.MAX_CONCERN_BYTES)
"""Small enough that a padded concern always fits its ``SealedTo`` (PROTOCOL.md 5.9)."""
"""Counted in bytes of UTF-8 so that every valid post fits the largest padding bucket."""
Handle = Str(limits.MAX_HANDLE)
Key = Bytes(limits.KEY_BYTES)


@dataclass(frozen=True, slots=True)
class PostContent(Struct):
    body: str = spec(Body)
    reply_to: tuple[int, ...] | None = spec(Opt(MessageRef))
    warning: str | None = spec(Opt(Str(80)))
    me: bool = spec(Bool())
    skipped: tuple[int, ...] = spec(Skipped, default=())


@dataclass(frozen=True, slots=True)
class ReactContent(Struct):
    target: tuple[int, ...] = spec(MessageRef)
    reaction: str = spec(Str(32, REACTIONS))
    skipped: tuple[int, ...] = spec(Skipped, default=())


@dataclass(frozen=True, slots=True)
class RetractContent(Struct):
    target: tuple[int, ...] = spec(MessageRef)
    skipped: tuple[int, ...] = spec(Skipped, default=())


@dataclass(frozen=True, slots=True)
class PinContent(Struct):
    body: str = spec(Str(1000))
    skipped: tuple[int, ...] = spec(Skipped, default=())


KIND_CONTENT: dict[str, type[Struct]] = {
    "post": PostContent,
    "react": ReactContent,
    "retract": RetractContent,
    "pin": PinContent,
}


@dataclass(frozen=True, slots=True)
class KnockContent(Struct):
    """Sealed under the invite's knock key; only invite holders (the facilitator) read it."""

    handle: str = spec(Handle)
    mood: str | None = spec(Opt(Str(16, MOODS)))


@dataclass(frozen=True, slots=True)
class InfoContent(Struct):
    """The circle's title and ground rules, sealed under the invite's info key."""

    title: str = spec(Str(limits.MAX_TITLE))
    rules: str = spec(Str(4000))
    facilitator_box: bytes = spec(Key)


@dataclass(frozen=True, slots=True)
class RosterEntry(Struct):
    member: int = spec(Int(1, limits.MAX_MEMBER_ID))
    handle: str = spec(Handle)
    sign_key: bytes = spec(Key)
    box_key: bytes = spec(Key)
    role: str = spec(Str(16, ROLES))


@dataclass(frozen=True, slots=True)
class RosterContent(Struct):
    """The signed roster at one step of the group's history (PROTOCOL.md 5.8).

    ``epoch`` is the epoch this roster starts; ``prev`` is the transcript hash of the roster
    before it (32 zero bytes for the first), so every roster names the whole history before
    it and no member accepts a rollback, a skip or a fork silently (S10).
    """

    circle: bytes = spec(Bytes(limits.ID_BYTES))
    version: int = spec(Int(1, limits.MAX_SEQ))
    epoch: int = spec(Int(0, limits.MAX_EPOCH))
    prev: bytes = spec(Bytes(limits.KEY_BYTES))
    members: tuple[RosterEntry, ...] = spec(ListOf(Nested(RosterEntry), limits.MAX_CAPACITY))
    former: tuple[int, ...] = spec(ListOf(Int(1, limits.MAX_MEMBER_ID)), default=())
    """Ids of members who were seated and left (the newest :data:`MAX_LIST`), so a lead who
    joined later still refuses a knock that reuses one (S10)."""


@dataclass(frozen=True, slots=True)
class WelcomeContent(Struct):
    """Sealed under the welcome key: the roster at admission and the digest of the commit
    that made the epoch, from which the joiner computes the transcript hash (9.4, 9.6)."""

    circle: bytes = spec(Bytes(limits.ID_BYTES))
    member: int = spec(Int(1, limits.MAX_MEMBER_ID))
    epoch: int = spec(Int(0, limits.MAX_EPOCH))
    commit: bytes = spec(Key)
    roster: RosterContent = spec(Nested(RosterContent))
    pinned: str | None = spec(Opt(Str(1000)))


@dataclass(frozen=True, slots=True)
class ConcernContent(Struct):
    """Sealed to one facilitator: which message worries the sender, and why."""

    target: tuple[int, ...] | None = spec(Opt(MessageRef))
    note: str = spec(ConcernNote)


@dataclass(frozen=True, slots=True)
class MoodContent(Struct):
    """A check-out mood, sealed to one facilitator; it names no one (F11)."""

    mood: str = spec(Str(16, MOODS))
