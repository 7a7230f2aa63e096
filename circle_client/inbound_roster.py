"""Inbound roster and key-change frames for the client session core: sans-I/O, no textual.

:class:`RosterHandlers` applies ``roster``, ``rekey`` and ``key_update`` frames, holds frames
that wait for a key change until it comes, and keeps the bookkeeping every inbound handler
shares: echoes of what this client sent, the last ``rseq`` seen, the roster shown. It is the
base of :class:`circle_client.inbound.Inbound`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from protocol.frames import Frame, KeyUpdate, Notice, Rekey, Relayed, Roster
from protocol.group import CircleCrypto

PENDING_LIMIT = 128
"""Messages held while waiting for the rekey that opens them."""
HELD_ALERT_SECONDS = OVERDUE_SECONDS = 5.0
"""Frames held this long for a rekey that has not come: the server may be withholding it."""
COMPARE = " Compare the circle fingerprint with the facilitator (/fingerprint)."

EchoKey = tuple[str, int, int]
"""How a frame this client sent is known when the server relays it back: kind, epoch, seq."""


class RosterHandlers:
    """Roster and key-change frames, and the frames held until the key change they need."""

    if TYPE_CHECKING:
        # The session state these handlers read and change; Session.__init__ sets it.
        clock: Callable[[], float]
        _unconfirmed: dict[EchoKey, Frame]
        _carried: dict[EchoKey, list[int]]
        circle: CircleCrypto | None
        lead: Facilitation | None
        member: int | None
        members: tuple[tuple[int, str, str], ...]
        last_rseq: int
        _pending: deque[Frame]
        _held: list[Notice]
        _unshown_roster: int
        _held_since: float | None
        _alerted: set[str]

        def _send(self, *frames: Frame) -> None: ...

        def wipe(self) -> None: ...

        def receive(self, frame: Frame) -> list[ev.Event]: ...

        def _on_notice(self, frame: Notice) -> list[ev.Event]: ...

    def _withheld_once(self, reason: str, text: str) -> list[ev.Event]:
        """A warning that a key change is being withheld, raised once until one arrives."""
        if reason in self._alerted:
            return []
        self._alerted.add(reason)
        return [ev.SecurityAlert(text + COMPARE, "withheld")]

    def _hold(self, frame: Relayed | Roster) -> list[ev.Event]:
        """Keep a frame for the rekey it needs. Bounded: past the limit the oldest goes, and
        the member is told (a server flooding future epochs, or withholding a rekey)."""
        out: list[ev.Event] = []
        if len(self._pending) == PENDING_LIMIT:
            self._pending.popleft()
            out += self._withheld_once(
                "overflow",
                "Too many messages are waiting for a key change that has not come; some could "
                "not be kept.",
            )
        self._pending.append(frame)
        if self._held_since is None:
            self._held_since = self.clock()
        return out

    def _on_roster(self, frame: Roster) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        self._confirm(("roster", frame.version, 0), dataclasses.replace(frame, rseq=None))
        circle = self.circle
        if circle is None:
            return []
        if frame.epoch > circle.epoch:
            circle.verify_roster_signature(frame)
            return self._hold(frame)
        changed = circle.apply_roster(frame)
        if not changed and frame.version != self._unshown_roster:
            return []
        self._unshown_roster = 0
        out: list[ev.Event] = [self._roster_event()]
        out += self._release_held()
        held, self._held = self._held, []
        for notice in held:
            if notice.target in circle.roster or len(held) > PENDING_LIMIT:
                out += self._on_notice(notice)
            else:
                self._held.append(notice)
        return out

    def _on_rekey(self, frame: Rekey) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        self._confirm(("rekey", frame.epoch, 0), dataclasses.replace(frame, rseq=None))
        circle = self.circle
        if circle is None or frame.epoch <= circle.epoch:
            return []  # a rekey this member already took (its own, a welcome's, a resend)
        kept = circle.apply_rekey(frame)
        if not kept:
            self.wipe()
            return [ev.Removed(banned=False, signed=False)]
        self._announce_key()
        return self._release_held()

    def _release_held(self) -> list[ev.Event]:
        """Frames held for the key change (or roster) that just arrived, in order."""
        out: list[ev.Event] = []
        pending, self._pending = list(self._pending), deque(maxlen=PENDING_LIMIT)
        self._held_since = None
        self._alerted -= {"held", "overflow"}
        for held in pending:
            out += self.receive(held)
        return out

    def _announce_key(self) -> None:
        """A fresh epoch key for the next commit, once per epoch (PROTOCOL.md 9.3)."""
        update = self.circle.key_update() if self.circle is not None else None
        if update is not None:
            self._send(update)

    def _on_key_update(self, frame: KeyUpdate) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        if frame.member == self.member:
            self._confirm(
                ("key_update", frame.epoch, 0), dataclasses.replace(frame, member=None, rseq=None)
            )
            return []
        if self.circle is not None:
            self.circle.take_key_update(frame)  # a forged one raises, and becomes an alert
        return []

    def _unseat(self, member: int | None) -> None:
        """The lead seated someone the server then did not admit: take them out again, or
        they would get every later epoch key."""
        lead = self.lead
        if lead is None or member is None or member not in lead.admitting:
            return
        lead.admitting.remove(member)
        if member in lead.circle.roster:
            self._send(*lead.rekey(without=member))

    # ------------------------------------------------------------------ state
    def _confirm(self, key: EchoKey, echoed: object) -> None:
        """What this client sent came back: it need not go out again after a resume. Only
        the very frame it sent counts, so a forged echo cannot cancel a resend (S10)."""
        sent = self._unconfirmed.get(key)
        if sent is not None and (getattr(sent, "env", sent) == echoed):
            del self._unconfirmed[key]
            self._carried.pop(key, None)  # the refused numbers it named went with it

    def _note_rseq(self, rseq: int) -> None:
        self.last_rseq = max(self.last_rseq, rseq)

    def _roster_event(self) -> ev.RosterChanged:
        assert self.circle is not None
        members = tuple((e.member, e.handle, e.role) for _, e in sorted(self.circle.roster.items()))
        self.members = members
        return ev.RosterChanged(members, f"epoch {self.circle.epoch} · {self.circle.fingerprint()}")
