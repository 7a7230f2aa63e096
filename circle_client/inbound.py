"""Inbound frame handling for the client session core: sans-I/O, no textual (PROTOCOL.md 3).

:class:`Inbound` holds :meth:`~Inbound.receive` and one ``_on_<type>`` handler per frame the
server sends: each applies the frame to the session's state and returns events for the user
interface. :class:`circle_client.session.Session` mixes it in and keeps the state and commands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from circle_client.notices import notice_text
from protocol import crypto, limits
from protocol.codec import decode_struct
from protocol.content import (
    ConcernContent,
    InfoContent,
    MoodContent,
    PinContent,
    PostContent,
    ReactContent,
    RetractContent,
    RosterContent,
    RosterEntry,
)
from protocol.crypto import CircleSecrets, MemberKeys, Random
from protocol.errors import CircleError, CryptoError, EpochError, ErrorCode, ReplayError
from protocol.frames import (
    PHASE_ACTIONS,
    CheckoutNotice,
    CircleInfo,
    Closed,
    ConcernNotice,
    Declined,
    Error,
    Frame,
    Knocked,
    Lobby,
    Notice,
    OpenCircle,
    Opened,
    Rekey,
    Relayed,
    Resume,
    Resumed,
    Roster,
    ServerHello,
    Timer,
    Welcome,
    action_phase,
)
from protocol.group import (
    CONCERN_BUCKETS,
    MOOD_BUCKETS,
    NOTE_BUCKETS,
    CircleCrypto,
    open_info,
)
from protocol.handshake import resume_proof
from protocol.invite import Invite

PENDING_LIMIT = 128
"""Messages held while waiting for the rekey that opens them."""

EchoKey = tuple[str, int, int]
"""How a frame this client sent is known when the server relays it back: kind, epoch, seq."""


class Inbound:
    """The receiving half of :class:`~circle_client.session.Session`: frames in, events out."""

    if TYPE_CHECKING:
        # The session state these handlers read and change; Session.__init__ sets it.
        rng: Random
        clock: Callable[[], float]
        _outbox: list[Frame]
        _resuming: bool
        _held_out: list[Frame]
        _unconfirmed: dict[EchoKey, Frame]
        server: ev.Connected | None
        challenge: bytes
        invite: Invite | None
        secrets: CircleSecrets | None
        keys: MemberKeys | None
        circle: CircleCrypto | None
        lead: Facilitation | None
        member: int | None
        admitted: bool
        closed: bool
        auto_admit: bool
        last_rseq: int
        ends_at: float
        muted_until: float
        round: tuple[int, ...]
        share_seconds: int | None
        phase: str | None
        _open_request: tuple[OpenCircle, InfoContent, str] | None
        _pending: deque[Frame]
        _held: list[Notice]
        _unshown_roster: int
        _unreadable: dict[tuple[int, int, int], None]
        server_url: str

        def _send(self, *frames: Frame) -> None: ...

        def wipe(self) -> None: ...

    def receive(self, frame: Frame) -> list[ev.Event]:
        """Apply one frame from the server; return what the user should see."""
        handler = getattr(self, f"_on_{frame.TYPE}", None)
        if handler is None:
            return [ev.SecurityAlert(f"The server sent a {frame.TYPE!r} frame; it was ignored.")]
        try:
            result: list[ev.Event] = handler(frame)
        except (CircleError, AssertionError, KeyError, ValueError, TypeError):
            # A frame that makes no sense in this state (a hostile or broken server): it
            # changes nothing and the session carries on.
            return [
                ev.SecurityAlert(f"The server sent an unexpected {frame.TYPE!r}; it was ignored.")
            ]
        return result

    def _on_server_hello(self, frame: ServerHello) -> list[ev.Event]:
        if frame.version not in limits.SUPPORTED_VERSIONS:
            message = (
                f"This server speaks Circle protocol {frame.version}; this circle speaks "
                f"{limits.PROTOCOL_VERSION}. Update circle, or ask the host which version to use."
            )
            return [ev.ErrorReceived(int(ErrorCode.UNSUPPORTED_VERSION), message, frame.TYPE)]
        self.challenge = frame.challenge
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
            return []
        return [self.server]

    def _on_opened(self, frame: Opened) -> list[ev.Event]:
        assert self._open_request is not None and self.keys is not None and self.invite is not None
        assert self.secrets is not None
        _request, _info, handle = self._open_request
        self._open_request = None
        self.member, self.ends_at, self.admitted = frame.member, frame.ends_at, True
        self.circle = CircleCrypto(
            frame.circle,
            frame.member,
            self.keys,
            self.keys.sign.public,
            self.invite.facilitator_fingerprint,
            self.rng,
        )
        entry = RosterEntry(
            member=frame.member,
            handle=handle,
            sign_key=self.keys.sign.public,
            box_key=self.keys.box.public,
            role="facilitator",
        )
        epoch_key = self.rng(limits.KEY_BYTES)
        self.circle.start(
            epoch_key, RosterContent(circle=frame.circle, version=1, members=(entry,))
        )
        self.lead = Facilitation(self.circle, self.secrets, self.rng)
        return [ev.CircleOpened(self.invite, frame.ends_at), self._roster_event()]

    def _on_info(self, frame: CircleInfo) -> list[ev.Event]:
        assert self.invite is not None and self.secrets is not None and self.keys is not None
        try:
            self.circle = CircleCrypto(
                frame.circle,
                frame.member,
                self.keys,
                frame.facilitator_key,
                self.invite.facilitator_fingerprint,
                self.rng,
            )
            info = open_info(self.secrets, frame.circle, frame.facilitator_key, frame.info)
        except CryptoError:
            self.wipe()
            return [
                ev.SecurityAlert(
                    "The server answered with a circle that does not match your invite. "
                    "Do not continue; ask the facilitator for a fresh invite."
                )
            ]
        self.member, self.ends_at = frame.member, frame.ends_at
        guidelines = self.server.guidelines if self.server else ""
        return [ev.RulesToAccept(info.title, info.rules, guidelines, frame.ends_at)]

    def _on_welcome(self, frame: Welcome) -> list[ev.Event]:
        assert self.circle is not None
        try:
            content = self.circle.accept_welcome(frame.welcome)
        except CircleError:
            self.wipe()
            return [
                ev.SecurityAlert(
                    "The admission did not come from the facilitator named in your invite. "
                    "Leave, and ask the facilitator for a fresh invite."
                )
            ]
        self.admitted, self.ends_at = True, frame.ends_at
        self.last_rseq = max(self.last_rseq, frame.rseq)
        return [
            ev.Admitted(self.circle.member, frame.ends_at, content.pinned),
            self._roster_event(),
        ]

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
        if self.auto_admit:
            self._send(*self.lead.admit(frame.member))
            return []
        return [ev.KnockReceived(knock.member, knock.handle, knock.mood)]

    def _on_relayed(self, frame: Relayed) -> list[ev.Event]:
        self._note_rseq(frame.rseq)
        if frame.sender == self.member:
            self._confirm((frame.kind, frame.env.epoch, frame.env.seq))
        circle = self.circle
        if circle is None or not self.admitted:
            return []
        if frame.env.epoch > circle.epoch:
            self._pending.append(frame)
            return []
        try:
            opened = circle.open(frame)
        except ReplayError:
            return []
        except EpochError:
            return self._unreadable_gap(frame)
        except CircleError:
            return [ev.SecurityAlert("A message failed its integrity check and was dropped.")]
        handle = circle.handle_of(opened.sender) or "someone"
        out: list[ev.Event] = []
        if opened.new_gaps:
            out.append(ev.Gap(opened.sender, handle, len(opened.new_gaps)))
        content = opened.content
        if isinstance(content, PostContent):
            mine = opened.sender == self.member
            out.append(
                ev.MessageReceived(opened.id, opened.sender, handle, content, mine, frame.rseq)
            )
        elif isinstance(content, ReactContent):
            out.append(ev.ReactionReceived(content.target, opened.sender, handle, content.reaction))
        elif isinstance(content, RetractContent):
            target = content.target
            if len(target) == 3 and target[0] == opened.sender:  # only one's own (S3)
                out.append(ev.Retracted((target[0], target[1], target[2]), opened.sender))
        elif isinstance(content, PinContent):
            entry = circle.roster.get(opened.sender)
            if entry is not None and entry.role in ("facilitator", "co"):
                out.append(ev.Pinned(content.body, opened.sender))
        if self.lead is not None and frame.kind == "post":
            self._send(*self.lead.count_message())
        return out

    def _unreadable_gap(self, frame: Relayed) -> list[ev.Event]:
        """A message from an epoch this member holds no key for: from before it was admitted
        (sent by someone who had not yet seen the rekey) or older than the keys it keeps. It
        can never be read, so it shows as a gap once, never as nothing (S6)."""
        assert self.circle is not None
        msg_id = (frame.sender, frame.env.epoch, frame.env.seq)
        if msg_id in self._unreadable:
            return []
        self._unreadable[msg_id] = None
        if len(self._unreadable) > PENDING_LIMIT:
            del self._unreadable[next(iter(self._unreadable))]
        return [ev.Gap(frame.sender, self.circle.handle_of(frame.sender) or "someone", 1)]

    def _on_roster(self, frame: Roster) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        self._confirm(("roster", frame.version, 0))
        circle = self.circle
        if circle is None or not self.admitted:
            return []
        if frame.epoch > circle.epoch:
            self._pending.append(frame)
            return []
        try:
            changed = circle.apply_roster(frame)
        except CircleError:
            return [ev.SecurityAlert("A roster update failed its signature check and was ignored.")]
        if not changed and frame.version != self._unshown_roster:
            return []
        self._unshown_roster = 0
        out: list[ev.Event] = [self._roster_event()]
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
        self._confirm(("rekey", frame.epoch, 0))
        circle = self.circle
        if circle is None or not self.admitted or frame.epoch <= circle.epoch:
            return []
        try:
            kept = circle.apply_rekey(frame)
        except CircleError:
            return [ev.SecurityAlert("A key change failed its signature check and was ignored.")]
        if not kept:
            self.wipe()
            return [ev.Removed(banned=False)]
        out: list[ev.Event] = []
        pending, self._pending = list(self._pending), deque(maxlen=PENDING_LIMIT)
        for held in pending:
            out += self.receive(held)
        return out

    def _on_notice(self, frame: Notice) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        circle = self.circle
        handles = {m: e.handle for m, e in circle.roster.items()} if circle else {}
        if self.lead is not None and frame.target in self.lead.knocks:
            handles[frame.target] = self.lead.knocks[frame.target].handle
        about_me = frame.target is not None and frame.target == self.member
        out: list[ev.Event] = []
        action = frame.action
        if action == "left" and frame.rseq == 0:
            if self.lead is not None:
                self.lead.knocks.pop(frame.target or 0, None)
            return [ev.KnockWithdrawn(frame.target or 0)]
        if action in PHASE_ACTIONS:
            return self._on_phase(frame)
        if action == "joined" and circle is not None and frame.target not in circle.roster:
            self._held.append(frame)  # shown once the signed roster names the newcomer
            return []
        if action == "warn":
            text = "A facilitator sent you a private note."
            if frame.note is not None and self.keys is not None:
                try:
                    plain = crypto.open_padded(self.keys.box, frame.note, NOTE_BUCKETS, "warning")
                    text = plain.decode()
                except (CryptoError, UnicodeDecodeError):
                    pass
            return [ev.PrivateWarning(text)]
        if action == "mute" and about_me:
            self.muted_until = self.clock() + (frame.minutes or 0) * 60
        if action == "unmute" and about_me:
            self.muted_until = 0.0
        out.append(ev.NoticeReceived(action, frame.target, notice_text(frame, handles), about_me))
        if action in ("round_start", "round_next", "pass"):
            if action == "round_start":
                self.share_seconds = frame.seconds or None
            self.round = frame.order
            speaker = frame.order[0] if frame.order else None
            out.append(ev.RoundChanged(frame.order, speaker, self.share_seconds))
        elif action == "round_end":
            self.round, self.share_seconds = (), None
            out.append(ev.RoundChanged((), None, None))
        if action in ("remove", "ban") and about_me:
            self.wipe()
            out.append(ev.Removed(banned=action == "ban"))
            return out
        was_lead = self.lead is not None
        out += self._lead_reacts(frame)
        if was_lead != (self.lead is not None) and self.circle is not None:
            # Who leads changed after the roster saying so was shown: show it again, so the
            # interface moves the lead's panels to the right person.
            out.append(self._roster_event())
        return out

    def _on_phase(self, frame: Notice) -> list[ev.Event]:
        """A numbered phase notice is news for the transcript; an unnumbered one is the phase
        a late or resumed member missed (PROTOCOL.md 3.3), shown only if it changes it."""
        phase = action_phase(frame.action)
        out: list[ev.Event] = []
        if frame.rseq:
            out.append(ev.NoticeReceived(frame.action, None, notice_text(frame, {}), False))
        if phase != self.phase:
            self.phase = phase
            out.append(ev.PhaseChanged(phase))
        return out

    def _lead_reacts(self, frame: Notice) -> list[ev.Event]:
        """The lead facilitator's client keeps keys and roster in step with membership."""
        if action_is_handover_to_me := (frame.action == "handover" and frame.target == self.member):
            if self.circle is not None and self.secrets is not None:
                self.lead = Facilitation(self.circle, self.secrets, self.rng, cert=frame.cert)
        lead = self.lead
        if lead is None or frame.target is None:
            return []
        if frame.action in ("left", "remove", "ban"):
            if frame.target in lead.circle.roster:
                self._send(*lead.rekey(without=frame.target))
        elif frame.action == "delegate":
            self._send(*lead.rekey(roles={frame.target: "co"}))
        elif frame.action == "revoke":
            self._send(*lead.rekey(roles={frame.target: "member"}))
        elif frame.action == "handover" and not action_is_handover_to_me:
            self.lead = None  # the roster naming the new lead went out before the hand-over
        return []

    def _on_timer(self, frame: Timer) -> list[ev.Event]:
        self.ends_at = frame.ends_at
        return [ev.TimerChanged(frame.ends_at, frame.warning)]

    def _on_closed(self, frame: Closed) -> list[ev.Event]:
        self.wipe()
        return [ev.CircleClosed(frame.reason)]

    def _on_resumed(self, frame: Resumed) -> list[ev.Event]:
        self.ends_at = frame.ends_at
        return [ev.Resumed(frame.missed, frame.lost)]

    def _on_lobby(self, frame: Lobby) -> list[ev.Event]:
        listed = []
        for entry in frame.circles:
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
                )
                listed.append((entry.title, entry.ends_at, entry.seats, str(invite)))
        return [ev.LobbyListed(tuple(listed))]

    def _on_concern_notice(self, frame: ConcernNotice) -> list[ev.Event]:
        if self.keys is None or self.circle is None:
            return []
        try:
            plain = crypto.open_padded(self.keys.box, frame.sealed, CONCERN_BUCKETS, "concern")
            content = decode_struct(ConcernContent, plain)
        except CircleError:
            return [ev.SecurityAlert("A concern could not be read.")]
        handle = self.circle.handle_of(frame.sender) or "someone"
        return [ev.ConcernReceived(frame.sender, handle, content.target, content.note)]

    def _on_checkout_notice(self, frame: CheckoutNotice) -> list[ev.Event]:
        if self.keys is None or self.lead is None:
            return []
        try:
            plain = crypto.open_padded(self.keys.box, frame.sealed, MOOD_BUCKETS, "check-out")
            mood = decode_struct(MoodContent, plain).mood
        except CircleError:
            return []
        self.lead.checkouts[mood] = self.lead.checkouts.get(mood, 0) + 1
        return [ev.CheckedOut(mood)]

    def _on_error(self, frame: Error) -> list[ev.Event]:
        # The server answers frames in order: a refused post is the oldest one not yet back.
        # It is not sent again after a resume (muted, slow mode, not one's turn).
        for key in self._unconfirmed:
            if key[0] == frame.ref:
                del self._unconfirmed[key]
                break
        return [ev.ErrorReceived(frame.code, frame.message, frame.ref)]

    # ------------------------------------------------------------------ state
    def _confirm(self, key: EchoKey) -> None:
        self._unconfirmed.pop(key, None)

    def _note_rseq(self, rseq: int) -> None:
        self.last_rseq = max(self.last_rseq, rseq)

    def _roster_event(self) -> ev.RosterChanged:
        assert self.circle is not None
        members = tuple((e.member, e.handle, e.role) for _, e in sorted(self.circle.roster.items()))
        return ev.RosterChanged(members, self.circle.fingerprint())
