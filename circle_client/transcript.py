"""The transcript model: bounded, in memory only, with the reader's personal filters (F8-F15).

Each message shows a number (``#12``) that commands refer to (``/reply 12``): the relay
sequence the server gave it, so the same message has the same number on every member's screen.
Notices, invite and fingerprint lines are local and get no number. The model keeps at most
:data:`MAX_ENTRIES` entries; the view renders only the most recent ones, so 10,000 messages
cost neither unbounded memory nor one widget each (P5).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from protocol.content import REACTION_LABELS

MAX_ENTRIES = 10_000

MessageId = tuple[int, int, int]

HIDDEN_BY_YOU = "you hid this person"
"""Why a message is not shown when the reader hid its sender with /hide."""


@dataclass(slots=True)
class Entry:
    key: int
    """Local order of the line on this screen; never shown, never referred to."""
    kind: str  # "message", "notice", "gap", "system", "marker"
    text: str
    number: int | None = None
    """Messages only: the relay sequence, the same for everyone in the circle."""
    sender: int | None = None
    handle: str = ""
    id: MessageId | None = None
    at: float = 0.0
    me_action: bool = False
    warning: str | None = None
    reply_to: MessageId | None = None
    mine: bool = False
    retracted: bool = False
    opened: bool = False
    reactions: dict[str, set[int]] = field(default_factory=dict)


class Transcript:
    def __init__(self, clock: object = time.time) -> None:
        self.clock = clock
        self.entries: OrderedDict[int, Entry] = OrderedDict()
        self.by_id: dict[MessageId, int] = {}
        self.by_number: dict[int, int] = {}
        self.next_key = 1
        self.muted: set[int] = set()
        self.filters: set[str] = set()
        self.revision = 0

    def _add(self, entry: Entry) -> Entry:
        self.entries[entry.key] = entry
        if entry.id is not None:
            self.by_id[entry.id] = entry.key
        if entry.number is not None:
            self.by_number[entry.number] = entry.key
        while len(self.entries) > MAX_ENTRIES:
            _, old = self.entries.popitem(last=False)
            if old.id is not None:
                self.by_id.pop(old.id, None)
            if old.number is not None:
                self.by_number.pop(old.number, None)
        return entry

    def _key(self) -> int:
        key = self.next_key
        self.next_key += 1
        return key

    def add_message(
        self,
        id: MessageId,
        sender: int,
        handle: str,
        body: str,
        *,
        me: bool = False,
        warning: str | None = None,
        reply_to: MessageId | None = None,
        mine: bool = False,
        number: int | None = None,
    ) -> Entry:
        """A message; ``number`` is its relay sequence (0 or None: shown without one)."""
        return self._add(
            Entry(
                key=self._key(),
                number=number or None,
                kind="message",
                text=body,
                sender=sender,
                handle=handle,
                id=id,
                at=self.clock(),  # type: ignore[operator]
                me_action=me,
                warning=warning,
                reply_to=reply_to,
                mine=mine,
                opened=mine,  # one's own warned message is shown to oneself
            )
        )

    def add_notice(self, text: str, kind: str = "notice") -> Entry:
        """A local line (notice, gap, system note): it gets no number."""
        return self._add(Entry(key=self._key(), kind=kind, text=text, at=self.clock()))  # type: ignore[operator]

    def find(self, number: int) -> Entry | None:
        """The message shown as ``#number`` (the same number on every screen)."""
        key = self.by_number.get(number)
        return self.entries.get(key) if key is not None else None

    def entry_for(self, id: tuple[int, ...]) -> Entry | None:
        key = self.by_id.get(id)  # type: ignore[arg-type]
        return self.entries.get(key) if key is not None else None

    def react(self, target: tuple[int, ...], sender: int, reaction: str) -> Entry | None:
        entry = self.entry_for(target)
        if entry is not None and not entry.retracted:
            entry.reactions.setdefault(reaction, set()).add(sender)
            self.revision += 1
        return entry

    def retract(self, target: MessageId, sender: int) -> Entry | None:
        entry = self.entry_for(target)
        if entry is not None and entry.sender == sender:
            entry.retracted = True
            entry.text = ""  # the words are gone from memory too
            entry.reactions.clear()
            self.revision += 1
        return entry

    def open_warning(self, number: int) -> bool:
        entry = self.find(number)
        if entry is None or entry.kind != "message":
            return False
        entry.opened = True
        self.revision += 1
        return True

    def hidden(self, entry: Entry) -> str | None:
        """Why the reader's own settings hide this message, or None."""
        if entry.sender is not None and entry.sender in self.muted:
            return HIDDEN_BY_YOU
        if entry.kind == "message" and self.filters and not entry.opened:
            from circle_client.safety import matches_filter

            if matches_filter(entry.text, self.filters):
                return "matches your filter"
        return None

    def recent(self, count: int) -> list[Entry]:
        items = list(self.entries.values())
        return items[-count:]

    def wipe(self) -> None:
        """F5: the transcript leaves memory with the circle."""
        self.entries.clear()
        self.by_id.clear()
        self.by_number.clear()
        self.revision += 1


def reaction_summary(entry: Entry) -> str:
    parts = [f"{REACTION_LABELS[r]} ×{len(who)}" for r, who in entry.reactions.items() if who]
    return f"  ({', '.join(parts)})" if parts else ""
