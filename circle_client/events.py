"""What a client session tells its user interface: plain, immutable events (no textual)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.content import PostContent
from protocol.invite import Invite


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of session events."""


@dataclass(frozen=True, slots=True)
class Connected(Event):
    guidelines: str
    crisis: str
    open_policy: str
    lobby: bool
    risk_phrases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CircleOpened(Event):
    invite: Invite
    ends_at: float


@dataclass(frozen=True, slots=True)
class RulesToAccept(Event):
    """The circle's ground rules and the host's guidelines; accept, then knock."""

    title: str
    rules: str
    guidelines: str
    ends_at: float


@dataclass(frozen=True, slots=True)
class Waiting(Event):
    """Knocked: in the waiting room until a facilitator admits."""


@dataclass(frozen=True, slots=True)
class Admitted(Event):
    member: int
    ends_at: float
    pinned: str | None


@dataclass(frozen=True, slots=True)
class Declined(Event):
    pass


@dataclass(frozen=True, slots=True)
class KnockReceived(Event):
    """Someone is in the waiting room (facilitators only)."""

    member: int
    handle: str
    mood: str | None


@dataclass(frozen=True, slots=True)
class KnockWithdrawn(Event):
    member: int


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    id: tuple[int, int, int]
    sender: int
    handle: str
    content: PostContent
    mine: bool
    rseq: int = 0
    """The relay sequence the server gave this message: the same for every member."""


@dataclass(frozen=True, slots=True)
class ReactionReceived(Event):
    target: tuple[int, ...]
    sender: int
    handle: str
    reaction: str


@dataclass(frozen=True, slots=True)
class Retracted(Event):
    target: tuple[int, int, int]
    sender: int


@dataclass(frozen=True, slots=True)
class Pinned(Event):
    body: str
    sender: int


@dataclass(frozen=True, slots=True)
class Gap(Event):
    """Messages from ``sender`` that never arrived (S6); ``count`` of them.

    Also a message that did arrive but from an epoch this member holds no key for (sent by
    someone who had not yet seen the rekey that admitted it): it can never be read.
    """

    sender: int
    handle: str
    count: int


@dataclass(frozen=True, slots=True)
class RosterChanged(Event):
    members: tuple[tuple[int, str, str], ...]  # (member id, handle, role)
    fingerprint: str


@dataclass(frozen=True, slots=True)
class NoticeReceived(Event):
    """A neutral notice: ``text`` is ready to show, e.g. "quiet-otter was muted for 10 min"."""

    action: str
    target: int | None
    text: str
    about_me: bool


@dataclass(frozen=True, slots=True)
class RoundChanged(Event):
    order: tuple[int, ...]
    speaker: int | None
    share_seconds: int | None


@dataclass(frozen=True, slots=True)
class TimerChanged(Event):
    ends_at: float
    warning: int | None


@dataclass(frozen=True, slots=True)
class PhaseChanged(Event):
    """The circle's agenda phase shown with the clock (F4): check-in, sharing or check-out;
    ``None`` when the facilitator cleared it."""

    phase: str | None


@dataclass(frozen=True, slots=True)
class ConcernReceived(Event):
    sender: int
    handle: str
    target: tuple[int, ...] | None
    note: str


@dataclass(frozen=True, slots=True)
class PrivateWarning(Event):
    text: str


@dataclass(frozen=True, slots=True)
class WarningDelivered(Event):
    """The server delivered this facilitator's private note to ``handle`` (it does not say
    they have read it)."""

    target: int
    handle: str


@dataclass(frozen=True, slots=True)
class ListedCircle:
    """One circle in the lobby. ``approved_by`` is the hex of a host-approved key this client
    pins that vouches for its facilitator; None means only the server vouches for it."""

    title: str
    ends_at: float
    seats: int
    invite: str
    approved_by: str | None


@dataclass(frozen=True, slots=True)
class LobbyListed(Event):
    circles: tuple[ListedCircle, ...]
    hidden: int = 0
    """Listed circles left out because no pinned key vouches for them."""


@dataclass(frozen=True, slots=True)
class ErrorReceived(Event):
    code: int
    message: str
    ref: str | None


@dataclass(frozen=True, slots=True)
class Removed(Event):
    """This member was removed or banned; keys are wiped.

    ``signed`` is False when no facilitator's signed removal was seen: the lead's key change
    left this member out (after the server said its connection was lost, say).
    """

    banned: bool
    signed: bool = True


@dataclass(frozen=True, slots=True)
class CircleClosed(Event):
    """The circle vanished (F5); transcript and keys are wiped."""

    reason: str


@dataclass(frozen=True, slots=True)
class Resumed(Event):
    missed: int
    lost: bool


@dataclass(frozen=True, slots=True)
class SecurityAlert(Event):
    """Something failed a cryptographic check: the server or a member may be misbehaving.

    ``kind`` says which check (PROTOCOL.md 5.11): ``tampered`` (a signature or seal did not
    verify), ``unsigned`` (a server claim no facilitator signed), ``fork`` (group state that
    rolls back, skips or forks), ``replay``, ``withheld`` (something expected did not come),
    ``malformed`` (a frame that makes no sense here).
    """

    message: str
    kind: str = "tampered"


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    """The connection dropped; trying again (attempt ``attempt``, next in ``delay`` s)."""

    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection ended for good; ``reason`` says why in words a user understands;
    ``code`` is the server's close code when it closed the connection with one."""

    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class CheckedOut(Event):
    """Someone left with a check-out mood (facilitators only; anonymous by design)."""

    mood: str
