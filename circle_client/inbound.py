"""Inbound frame handling for the client session core: sans-I/O, no textual (PROTOCOL.md 3).

:class:`Inbound` holds :meth:`~Inbound.receive`, which hands each frame the server sends to
its ``_on_<type>`` handler: each applies the frame to the session's state and returns events
for the user interface. The handlers here take the connection, opening and joining a circle,
admission, the clock, the lobby and errors; those for messages and notices are in
:mod:`circle_client.inbound_messages`, and those for the roster and key changes in
:mod:`circle_client.inbound_roster`. :class:`circle_client.session.Session` mixes it in and
keeps the state and commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from circle_client.inbound_messages import MessageHandlers
from circle_client.inbound_roster import (
    COMPARE,
    HELD_ALERT_SECONDS,
    OVERDUE_SECONDS,
    PENDING_LIMIT,
    EchoKey,
)
from protocol import limits
from protocol.content import KIND_CONTENT, InfoContent, RosterContent, RosterEntry
from protocol.errors import (
    CircleError,
    CryptoError,
    ErrorCode,
    ForkError,
    LocalProtocolError,
    ReplayError,
    TamperedError,
)
from protocol.frames import (
    CircleInfo,
    Closed,
    Declined,
    Error,
    Frame,
    Knocked,
    Lobby,
    OpenCircle,
    Opened,
    Resume,
    Resumed,
    ServerHello,
    Timer,
    Welcome,
)
from protocol.group import NO_TRANSCRIPT, CircleCrypto, open_info
from protocol.handshake import resume_proof, verify_listing
from protocol.invite import Invite
from protocol.kem import Suite
from protocol.pq import PostQuantumUnavailableError
from protocol.states import CLIENT_FRAMES, ClientState

__all__ = ["OVERDUE_SECONDS", "PENDING_LIMIT", "EchoKey", "Inbound"]


class Inbound(MessageHandlers):
    """The receiving half of :class:`~circle_client.session.Session`: frames in, events out."""

    if TYPE_CHECKING:
        # More of the session state, read and changed here; Session.__init__ sets it.
        _outbox: list[Frame]
        _refused: list[tuple[int, int]]
        _carried: dict[EchoKey, list[int]]
        _resuming: bool
        _held_out: list[Frame]
        server: ev.Connected | None
        challenge: bytes
        invite: Invite | None
        state: ClientState
        auto_admit: bool
        ends_at: float
        _open_request: tuple[OpenCircle, InfoContent, str] | None
        _catching_up: bool
        server_url: str
        trusted_keys: frozenset[bytes]

        @property
        def admitted(self) -> bool: ...

        @property
        def closed(self) -> bool: ...

        def _move(self, event: str) -> None: ...

        def catch_up(self) -> None: ...

    def receive(self, frame: Frame) -> list[ev.Event]:
        """Apply one frame from the server; return what the user should see.

        Which frames a session takes in which state is one table (``CLIENT_FRAMES``,
        PROTOCOL.md 7.2). A frame refused for a security reason changes nothing and becomes
        a :class:`~circle_client.events.SecurityAlert` saying which check failed.
        """
        if frame.TYPE not in CLIENT_FRAMES[self.state]:
            if self.state is ClientState.CLOSED:
                return []  # still in flight when the circle ended for this member
            return [
                ev.SecurityAlert(
                    f"The server sent something out of place ({frame.TYPE}); it was ignored.",
                    "malformed",
                )
            ]
        handler = getattr(self, f"_on_{frame.TYPE}")
        try:
            result: list[ev.Event] = handler(frame)
        except CircleError as exc:
            result = [_alert(frame.TYPE, exc)]
        return result + self.tick()

    def tick(self) -> list[ev.Event]:
        """Alerts for what is overdue (S10): frames held for a rekey that does not come, a
        removal this member signed that the lead never carried out. Call it now and then."""
        now = self.clock()
        out: list[ev.Event] = []
        if self.lead is not None and self.state is ClientState.ADMITTED:
            try:
                self._send(*self.lead.rekey_if_due())
            except CircleError as exc:
                out.append(_alert("rekey", exc))
        if self._held_since is not None and now - self._held_since >= HELD_ALERT_SECONDS:
            out += self._withheld_once(
                "held",
                "Messages are being held back: the key change that opens them has not arrived. "
                "The server may be withholding it.",
            )
        circle = self.circle
        for member, due in list(self._expect_gone.items()):
            if circle is None or member not in circle.roster:
                del self._expect_gone[member]
            elif now >= due:
                del self._expect_gone[member]
                out.append(
                    ev.SecurityAlert(
                        f"{circle.handle_of(member) or 'Someone'} was removed, but the lead "
                        "facilitator's key change never came: they may still read the circle. "
                        "Take care what you share until it does." + COMPARE,
                        "withheld",
                    )
                )
        return out

    def _on_server_hello(self, frame: ServerHello) -> list[ev.Event]:
        if frame.version not in limits.SUPPORTED_VERSIONS:
            message = (
                f"This server speaks Circle protocol {frame.version}; this circle speaks "
                f"{limits.PROTOCOL_VERSION}. Update circle, or ask the host which version to use."
            )
            return [ev.ErrorReceived(int(ErrorCode.UNSUPPORTED_VERSION), message, frame.TYPE)]
        self.challenge = frame.challenge
        self._move("hello")
        self.server = ev.Connected(
            frame.guidelines, frame.crisis, frame.open_policy, frame.lobby, frame.risk_phrases
        )
        if self.admitted and self.circle is not None and self.keys is not None and not self.closed:
            proof = resume_proof(
                self.keys.sign, frame.challenge, self.circle.circle_id, self.circle.member
            )
            resume = Resume(
                circle=self.circle.circle_id,
                member=self.circle.member,
                last_rseq=self.last_rseq,
                proof=proof,
            )
            # Resume first; then what went out on the old connection but never came back,
            # then what could not be written at all, each in the order it was sent.
            again, self._unconfirmed = list(self._unconfirmed.values()), {}
            held, self._held_out = self._held_out, []
            self._resuming = False
            self._outbox.extend([resume, *again, *held])
        return [self.server]  # after a restart the host's crisis resources may be new

    def _on_opened(self, frame: Opened) -> list[ev.Event]:
        request = self._open_request
        if request is None or self.keys is None or self.invite is None or self.secrets is None:
            raise LocalProtocolError("no circle was being opened")
        if frame.circle != request[0].circle:
            raise TamperedError("the server opened another circle")
        handle = request[2]
        self._open_request = None
        self._move("opened")
        self.member, self.ends_at = frame.member, frame.ends_at
        self.circle = CircleCrypto(
            frame.circle,
            frame.member,
            self.keys,
            self.keys.sign.public,
            self.invite.facilitator_fingerprint,
            self.rng,
            Suite(self.invite.suite),
        )
        entry = RosterEntry(
            member=frame.member,
            handle=handle,
            sign_key=self.keys.sign.public,
            box_key=self.keys.box.public,
            role="facilitator",
        )
        first = RosterContent(
            circle=frame.circle, version=1, epoch=0, prev=NO_TRANSCRIPT, members=(entry,)
        )
        self.circle.start(first)
        self.lead = Facilitation(self.circle, self.secrets, self.rng, clock=self.clock)
        self._announce_key()
        return [ev.CircleOpened(self.invite, frame.ends_at), self._roster_event()]

    def _on_info(self, frame: CircleInfo) -> list[ev.Event]:
        if self.invite is None or self.secrets is None or self.keys is None:
            raise LocalProtocolError("not joining a circle")
        try:
            self.circle = CircleCrypto(
                frame.circle,
                frame.member,
                self.keys,
                frame.facilitator_key,
                self.invite.facilitator_fingerprint,
                self.rng,
                Suite(self.invite.suite),
            )
            info = open_info(self.secrets, frame.circle, frame.facilitator_key, frame.info)
        except PostQuantumUnavailableError as exc:
            self.wipe()
            return [ev.ErrorReceived(0, str(exc), None)]
        except CryptoError:
            self.wipe()
            return [
                ev.SecurityAlert(
                    "The server answered with a circle that does not match your invite. "
                    "Do not continue; ask the facilitator for a fresh invite."
                )
            ]
        self._move("info")
        self.member, self.ends_at = frame.member, frame.ends_at
        guidelines = self.server.guidelines if self.server else ""
        return [ev.RulesToAccept(info.title, info.rules, guidelines, frame.ends_at)]

    def _on_welcome(self, frame: Welcome) -> list[ev.Event]:
        """Admission (S2). A welcome that does not verify changes nothing: a real one may
        still come, and a seat already taken is never welcomed again (S10)."""
        if self.circle is None:
            raise ForkError("a welcome for no circle")
        if self.state is ClientState.ADMITTED:
            return self._catch_up(frame)
        try:
            content = self.circle.accept_welcome(frame.welcome)
        except CircleError:
            return [
                ev.SecurityAlert(
                    "The admission did not come from the facilitator named in your invite. "
                    "Leave, and ask the facilitator for a fresh invite."
                )
            ]
        self._move("welcome")
        self.ends_at = frame.ends_at
        self.last_rseq = max(self.last_rseq, frame.rseq)
        self._announce_key()
        return [
            ev.Admitted(self.circle.member, frame.ends_at, content.pinned),
            self._roster_event(),
        ]

    def _catch_up(self, frame: Welcome) -> list[ev.Event]:
        """A welcome while seated: taken only when this member asked to catch up and it
        moves it forward (5.4); one to where it already is just ends the asking."""
        circle = self.circle
        assert circle is not None
        asked, self._catching_up = self._catching_up, False
        if not asked:
            raise ForkError("a second welcome for a seat already taken")
        if frame.welcome.epoch <= circle.epoch:
            return []  # nothing was missed after all
        circle.accept_welcome(frame.welcome)
        self._announce_key()
        out: list[ev.Event] = [
            ev.NoticeReceived(
                "caught_up",
                self.member,
                "You missed a key change while away; you can read the circle again from now.",
                True,
            ),
            self._roster_event(),
        ]
        return out + self._release_held()

    def _on_declined(self, frame: Declined) -> list[ev.Event]:
        self.wipe()
        return [ev.Declined()]

    def _on_knocked(self, frame: Knocked) -> list[ev.Event]:
        if self.lead is None:
            return []
        try:
            knock = self.lead.on_knocked(frame)
        except CircleError:
            return [ev.SecurityAlert("A knock could not be read and was ignored.")]
        if self.auto_admit or frame.member in self.lead.circle.roster:
            # A seated member catching up (or a lost admission) needs no one's decision.
            self._send(*self.lead.admit(frame.member))
            return []
        return [ev.KnockReceived(knock.member, knock.handle, knock.mood)]

    def _on_timer(self, frame: Timer) -> list[ev.Event]:
        self.ends_at = frame.ends_at
        if not frame.warning:  # the clock restated: a facilitator is back, or an extension
            self.paused = False
        return [ev.TimerChanged(frame.ends_at, frame.warning)]

    def _on_closed(self, frame: Closed) -> list[ev.Event]:
        self.wipe()
        return [ev.CircleClosed(frame.reason)]

    def _on_resumed(self, frame: Resumed) -> list[ev.Event]:
        self.ends_at = frame.ends_at
        if frame.lost:
            self.catch_up()  # a key change may be among what the server no longer has
        return [ev.Resumed(frame.missed, frame.lost)]

    def _on_lobby(self, frame: Lobby) -> list[ev.Event]:
        """The lobby (F7). Only the server vouches for an entry, unless this client pins
        host-approved keys (``trusted_keys``): then it lists only circles whose facilitator
        one of them approved (PROTOCOL.md 3.3, Lobby)."""
        listed: list[ev.ListedCircle] = []
        hidden = 0
        for entry in frame.circles:
            approved_by = None
            if self.trusted_keys:
                try:
                    key = verify_listing(entry)
                except CryptoError:
                    key = None
                if key not in self.trusted_keys:
                    hidden += 1
                    continue
                approved_by = key.hex()
            if self.server_url:
                host_invite = Invite.create(
                    self.server_url, entry.fingerprint, circle_id=entry.circle
                )
                invite = Invite(
                    host_invite.host,
                    host_invite.port,
                    host_invite.tls,
                    entry.circle,
                    entry.secret,
                    entry.fingerprint,
                    host_invite.path,
                )
                listed.append(
                    ev.ListedCircle(
                        entry.title, entry.ends_at, entry.seats, str(invite), approved_by
                    )
                )
        return [ev.LobbyListed(tuple(listed), hidden)]

    def _on_error(self, frame: Error) -> list[ev.Event]:
        if frame.ref == "admit" and self.lead is not None and self.lead.admitting:
            self._unseat(self.lead.admitting[0])  # the server answers in order
        # A refused message is not sent again after a resume (muted, slow mode, not one's
        # turn). The server names it; an older server's error is matched by order (it answers
        # frames in order: the oldest of that kind not yet back).
        if frame.seq is not None:  # already back (a re-send after a resume): nothing refused
            named = (frame.ref or "", frame.epoch or 0, frame.seq)
            keys = [named] if named in self._unconfirmed else []
        else:  # an older server: which one is a guess, so nothing is said of its number
            keys = [k for k in self._unconfirmed if k[0] == frame.ref][:1]
        for key in keys:
            del self._unconfirmed[key]
            carried = self._carried.pop(key, [])
            if key[0] in KIND_CONTENT and frame.seq is not None:  # never relayed: say so next
                self._refused += [(key[1], seq) for seq in [*carried, key[2]]]
        return [ev.ErrorReceived(frame.code, frame.message, frame.ref)]


_ALERTS: tuple[tuple[type[CircleError], str, str], ...] = (
    (ForkError, "fork", "Something the server sent would undo or split the circle's history"),
    (ReplayError, "replay", "The server sent something again that was already seen"),
    (CryptoError, "tampered", "Something the server sent did not verify"),
)


def _alert(frame_type: str, exc: CircleError) -> ev.SecurityAlert:
    """What the member is told when a frame is refused: which check, in plain words."""
    for cls, kind, text in _ALERTS:
        if isinstance(exc, cls):
            return ev.SecurityAlert(f"{text} ({frame_type}); it was ignored." + COMPARE, kind)
    return ev.SecurityAlert(
        f"The server sent something that makes no sense now ({frame_type}); it was ignored.",
        "malformed",
    )
