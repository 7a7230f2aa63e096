"""What the lead facilitator's client does on its own: admit, rekey, roster, sign moderation.

Admission always moves the circle to a new epoch, so a newcomer cannot read anything said
before it arrived; so does every departure, so whoever left cannot read what follows (S5).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from protocol import limits
from protocol.content import KnockContent, RosterContent, RosterEntry
from protocol.crypto import CircleSecrets, Random
from protocol.errors import TamperedError
from protocol.frames import Admit, Decline, Delegation, Frame, Knocked
from protocol.group import CircleCrypto, FacilitatorSigner, open_knock
from protocol.kem import EpochPublicKey
from protocol.keyschedule import EpochLimits
from protocol.names import handle_problem, looks_like, normalise_handle

PERIODIC_REKEY_MESSAGES = 200
"""The lead also rekeys after this many messages of any kind in one epoch (forward secrecy)."""
EPOCH_SECONDS = 15 * 60
"""...or when an epoch is this old, whichever comes first, so a quiet circle moves on too."""
LIMITS = EpochLimits(max_messages=PERIODIC_REKEY_MESSAGES, max_seconds=EPOCH_SECONDS)


@dataclass(slots=True)
class PendingKnock:
    member: int
    sign_key: bytes
    box_key: bytes
    handle: str
    mood: str | None
    key: tuple[int, EpochPublicKey]
    """The epoch key (id, public) the knock announced: the welcome is sealed to it."""


class Facilitation:
    """State the lead facilitator's client keeps beyond a member's (PROTOCOL.md 3, 5.8)."""

    def __init__(
        self,
        circle: CircleCrypto,
        secrets: CircleSecrets,
        rng: Random,
        cert: Delegation | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.circle = circle
        self.clock = clock
        self.epoch_started = clock()
        self.secrets = secrets
        self.signer = FacilitatorSigner(circle.circle_id, circle.keys.sign, cert=cert, rng=rng)
        self.knocks: dict[int, PendingKnock] = {}
        self.admitting: list[int] = []
        """Seated on this lead's roster, not yet confirmed by the server's ``joined``."""
        self.messages_in_epoch = 0
        self.pinned: str | None = None
        self.delegations: dict[int, Delegation] = {}
        self.moods: dict[int, str] = {}  # check-in moods; only the tally is ever shown
        self.checkouts: dict[str, int] = {}  # check-out moods arrive without a sender

    # -- knocks ------------------------------------------------------------------------------
    def on_knocked(self, frame: Knocked) -> PendingKnock:
        """Read a knock; refuse one that reuses a member id or keys, or a handle that hides
        characters (S10, F3). A hostile server or member is the only source of either."""
        circle = self.circle
        epoch_key = EpochPublicKey(frame.x25519, frame.mlkem)
        content: KnockContent = open_knock(
            self.secrets,
            circle.circle_id,
            frame.sign_key,
            frame.box_key,
            frame.key,
            epoch_key,
            frame.sealed,
        )
        seated = circle.roster.get(frame.member)
        if seated is not None and (seated.sign_key, seated.box_key) == (
            frame.sign_key,
            frame.box_key,
        ):
            # Admitted on this lead's roster, but the admission was lost with a dropped
            # connection: the same person knocks again and gets a welcome to where it is now.
            handle = seated.handle
        else:
            if frame.member in circle.ever_seated:
                raise TamperedError("the knock reuses the id of someone who was in the circle")
            in_use = {e.sign_key for e in circle.roster.values()}
            in_use |= {e.box_key for e in circle.roster.values()}
            if frame.sign_key in in_use or frame.box_key in in_use:
                raise TamperedError("the knock reuses the keys of someone in the circle")
            handle = normalise_handle(content.handle)
            if handle_problem(handle) is not None:
                raise TamperedError("the knock's handle has hidden or look-alike characters")
        knock = PendingKnock(
            frame.member,
            frame.sign_key,
            frame.box_key,
            handle,
            content.mood,
            (frame.key, epoch_key),
        )
        self.knocks[frame.member] = knock
        if content.mood:
            self.moods[frame.member] = content.mood
        return knock

    def mood_tally(self) -> dict[str, int]:
        """The anonymous check-in tally (F11): counts only, never who."""
        tally: dict[str, int] = {}
        for mood in self.moods.values():
            tally[mood] = tally.get(mood, 0) + 1
        return tally

    def handle_taken(self, handle: str) -> bool:
        """True if ``handle`` is, or looks like, the handle of someone in the circle now or
        earlier: a newcomer cannot pass for someone who left (F3)."""
        known = [e.handle for e in self.circle.roster.values()]
        known += [h for h in self.circle.ever_seated.values() if h]
        return looks_like(handle, known)

    def unique_handle(self, handle: str, member: int) -> str:
        """``handle``, or ``handle-<id>`` (then ``handle-<id>-2``, ...) if it is taken."""
        if not self.handle_taken(handle):
            return handle
        for n in range(1, 100):
            tail = f"-{member}" if n == 1 else f"-{member}-{n}"
            candidate = f"{handle[: limits.MAX_HANDLE - len(tail)]}{tail}"
            if not self.handle_taken(candidate):
                return candidate
        raise TamperedError("no free handle for this knock")

    def admit(self, member: int) -> list[Frame]:
        """A commit into a new epoch: a welcome for the joiner, sealed to the key its knock
        announced; a rekey for everyone else; the new roster.

        A seated member that knocks again (it missed a step while away) is welcomed into a
        new epoch the same way, with its seat unchanged.
        """
        knock = self.knocks[member]
        circle = self.circle
        entries = dict(circle.roster)
        if member not in entries:
            handle = self.unique_handle(knock.handle, member)  # unique within a circle (F3)
            entries[member] = RosterEntry(
                member=member,
                handle=handle,
                sign_key=knock.sign_key,
                box_key=knock.box_key,
                role="member",
            )
        rekey, roster, welcomes = self.signer.commit(
            circle, self._next(entries), {member: knock.key}, self.pinned
        )
        del self.knocks[member]
        if member not in circle.roster:
            self.admitting.append(member)
        circle.note_knock_key(member, *knock.key)
        return [Admit(member=member, welcome=welcomes[member]), rekey, roster]

    def decline(self, member: int) -> Decline:
        self.knocks.pop(member, None)
        return Decline(member=member)

    # -- epochs ------------------------------------------------------------------------------
    def _next(self, entries: dict[int, RosterEntry]) -> RosterContent:
        epoch = self.circle.epoch + 1
        former = sorted(m for m in self.circle.ever_seated if m not in entries)
        roster = RosterContent(
            circle=self.circle.circle_id,
            version=self.circle.roster_version + 1,
            epoch=epoch,
            prev=self.circle.transcript_hash,
            members=tuple(entries[m] for m in sorted(entries)),
            former=tuple(former[-limits.MAX_LIST :]),
        )
        self.messages_in_epoch = 0
        self.epoch_started = self.clock()
        return roster

    def rekey(self, without: int | None = None, roles: dict[int, str] | None = None) -> list[Frame]:
        """A new epoch for everyone on the roster except ``without``, and the new roster."""
        entries = {m: e for m, e in self.circle.roster.items() if m != without}
        for member, role in (roles or {}).items():
            if member in entries:
                old = entries[member]
                entries[member] = RosterEntry(
                    member=old.member,
                    handle=old.handle,
                    sign_key=old.sign_key,
                    box_key=old.box_key,
                    role=role,
                )
        rekey, roster, _ = self.signer.commit(self.circle, self._next(entries), {})
        return [rekey, roster]

    def count_message(self) -> list[Frame]:
        """Periodic rekey: after enough messages of any kind, move everyone to a fresh epoch."""
        self.messages_in_epoch += 1
        return self.rekey_if_due()

    def rekey_if_due(self) -> list[Frame]:
        """A fresh epoch when this one has carried enough messages or lasted long enough."""
        if LIMITS.due(self.messages_in_epoch, self.epoch_started, self.clock()):
            return self.rekey()
        return []

    # -- delegation ------------------------------------------------------------------------
    def delegation(self, member: int, role: str) -> Delegation:
        entry = self.circle.roster[member]
        cert = self.signer.delegate(member, entry.sign_key, role)
        self.delegations[member] = cert
        return cert
