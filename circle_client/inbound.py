"""Inbound frame handling for the client session core: sans-I/O, no textual (PROTOCOL.md 3).

:class:`Inbound` holds :meth:`~Inbound.receive` and one ``_on_<type>`` handler per frame the
server sends: each applies the frame to the session's state and returns events for the user
interface. :class:`circle_client.session.Session` mixes it in and keeps the state and commands.
"""

from __future__ import annotations

import dataclasses
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
from protocol.errors import (
    CircleError,
    CryptoError,
    EpochError,
    ErrorCode,
    ForkError,
    LocalProtocolError,
    ReplayError,
    TamperedError,
)
from protocol.frames import (
    PHASE_ACTIONS,
    CheckoutNotice,
    CircleInfo,
    Closed,
    ConcernNotice,
    Declined,
    Error,
    Frame,
    KeyUpdate,
    Knocked,
    Lobby,
    Moderate,
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
    NO_TRANSCRIPT,
    NOTE_BUCKETS,
    CircleCrypto,
    open_info,
    open_member,
    open_signed,
)
from protocol.handshake import (
    resume_proof,
    verify_delegation,
    verify_leave,
    verify_listing,
    verify_moderate,
)
from protocol.invite import Invite
from protocol.kem import Suite
from protocol.pq import PostQuantumUnavailableError
from protocol.states import CLIENT_FRAMES, ClientState

PENDING_LIMIT = 128
"""Messages held while waiting for the rekey that opens them."""
HELD_ALERT_SECONDS = OVERDUE_SECONDS = 5.0
"""Frames held this long for a rekey that has not come: the server may be withholding it."""
COMPARE = " Compare the circle fingerprint with the facilitator (/fingerprint)."

# Notices that are only ever the server's word (its clocks, a member passing, a connection
# lost): shown, never acted on. Every other notice is a facilitator's action and must carry
# the facilitator's signature (S10).
SERVER_NOTICES = frozenset(
    {"joined", "left", "pass", "warning_time", "paused", "round_next", "round_end", "restart"}
)
LEAD_ONLY = frozenset({"delegate", "handover"})
"""Actions only the circle's own key signs (the root facilitator, PROTOCOL.md 5.7)."""

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
        state: ClientState
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
        _mod_seen: dict[bytes, int]
        _boxes_seen: deque[bytes]
        _held_since: float | None
        _expect_gone: dict[int, float]
        _alerted: set[str]
        _catching_up: bool
        server_url: str
        trusted_keys: frozenset[bytes]

        @property
        def admitted(self) -> bool: ...

        @property
        def closed(self) -> bool: ...

        def _move(self, event: str) -> None: ...

        def _send(self, *frames: Frame) -> None: ...

        def wipe(self) -> None: ...

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
            if "held" not in self._alerted:
                self._alerted.add("held")
                out.append(
                    ev.SecurityAlert(
                        "Messages are being held back: the key change that opens them has not "
                        "arrived. The server may be withholding it." + COMPARE,
                        "withheld",
                    )
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
            return []
        return [self.server]

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
        pending, self._pending = list(self._pending), deque(maxlen=PENDING_LIMIT)
        self._held_since = None
        self._alerted -= {"held", "overflow"}
        for held in pending:
            out += self.receive(held)
        return out

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

    def _on_relayed(self, frame: Relayed) -> list[ev.Event]:
        self._note_rseq(frame.rseq)
        if frame.sender == self.member:
            self._confirm((frame.kind, frame.env.epoch, frame.env.seq), frame.env)
        circle = self.circle
        if circle is None:
            return []
        if frame.env.epoch > circle.epoch or (
            frame.env.epoch == circle.epoch and circle.awaiting_roster
        ):
            circle.verify_sender(frame)  # only what verifies is held (S10)
            return self._hold(frame)
        try:
            opened = circle.open(frame)
        except ReplayError:
            return []
        except EpochError:
            return self._unreadable_gap(frame)
        except CircleError:
            return [
                ev.SecurityAlert("A message failed its integrity check and was dropped." + COMPARE)
            ]
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
        if self.lead is not None:  # every kind counts towards the epoch's end
            self._send(*self.lead.count_message())
        return out

    def _hold(self, frame: Relayed | Roster) -> list[ev.Event]:
        """Keep a frame for the rekey it needs. Bounded: past the limit the oldest goes, and
        the member is told (a server flooding future epochs, or withholding a rekey)."""
        out: list[ev.Event] = []
        if len(self._pending) == PENDING_LIMIT:
            self._pending.popleft()
            if "overflow" not in self._alerted:
                self._alerted.add("overflow")
                out.append(
                    ev.SecurityAlert(
                        "Too many messages are waiting for a key change that has not come; "
                        "some could not be kept." + COMPARE,
                        "withheld",
                    )
                )
        self._pending.append(frame)
        if self._held_since is None:
            self._held_since = self.clock()
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

    def _on_notice(self, frame: Notice) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        circle = self.circle
        assert circle is not None  # CLIENT_FRAMES: notices come only while admitted
        action = frame.action
        if action == "left" and frame.rseq == 0:  # someone left the waiting room
            if self.lead is not None:
                self.lead.knocks.pop(frame.target or 0, None)
                self._unseat(frame.target)  # gone before the admission reached the server
            return [ev.KnockWithdrawn(frame.target or 0)]
        if action == "joined" and self.lead is not None and frame.target in self.lead.admitting:
            self.lead.admitting.remove(frame.target)
        signed = self._verified_action(frame)
        if signed is None and action not in SERVER_NOTICES and action not in PHASE_ACTIONS:
            return [
                ev.SecurityAlert(
                    f"The server claimed a facilitator's action that no facilitator signed "
                    f"({action}); it was ignored." + COMPARE,
                    "unsigned",
                )
            ]
        if action in PHASE_ACTIONS:
            return self._on_phase(frame)
        if action == "joined" and frame.target not in circle.roster:
            if len(self._held) >= PENDING_LIMIT:
                self._held.pop(0)
            self._held.append(frame)  # shown once the signed roster names the newcomer
            return []
        if action == "left":
            return self._on_left(frame, circle)
        handles = dict(circle.ever_seated)
        about_me = frame.target is not None and frame.target == self.member
        if action == "warn":
            return self._private_warning(signed)
        out: list[ev.Event] = []
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
        if signed is not None:
            self._lead_reacts(signed)
            target = signed.target
            if signed.action in ("remove", "ban") and target is not None:
                if target in circle.roster and self.lead is None:
                    # The lead's rekey should follow at once; if it never comes, say so.
                    self._expect_gone.setdefault(target, self.clock() + OVERDUE_SECONDS)
        if was_lead != (self.lead is not None) or (signed is not None and action == "handover"):
            # Who leads changed after the roster saying so was shown: show it again, so the
            # interface moves the lead's panels to the right person.
            out.append(self._roster_event())
        return out

    def _verified_action(self, frame: Notice) -> Moderate | None:
        """The facilitator's own signed action behind a notice, checked against the roster;
        None when the notice carries none. Raises if it carries one that does not verify."""
        signed = frame.signed
        circle = self.circle
        if signed is None or circle is None:
            return None
        said = (frame.action, frame.target, frame.minutes, frame.seconds, tuple(frame.order))
        meant = (signed.action, signed.target, signed.minutes, signed.seconds, tuple(signed.order))
        if said != meant or (frame.cert is not None and frame.cert != signed.cert):
            raise TamperedError("the notice does not say what the facilitator signed")
        if signed.action in LEAD_ONLY:
            if signed.signer != circle.root_key or signed.cert is None:
                raise TamperedError("only the circle's own key delegates or hands over")
            cert = signed.cert
            verify_delegation(circle.root_key, circle.circle_id, cert)
            target = circle.roster.get(cert.member)
            if target is None or cert.member != signed.target or cert.key != target.sign_key:
                raise TamperedError("the delegation names someone else")
        else:
            signer = circle.check_moderator(signed.signer, lead_only=signed.action == "revoke")
            aim = signed.target
            if signer.role == "co" and aim is not None and circle.is_lead_or_root(aim):
                raise TamperedError("a co-facilitator cannot act on the lead facilitator")
            if signed.action == "revoke" and (aim is None or self._role_of(aim) is None):
                raise TamperedError("a revocation names someone not in the circle")
        verify_moderate(circle.circle_id, signed)
        if signed.seq <= self._mod_seen.get(signed.signer, 0):
            raise ReplayError("a facilitator's action was sent again")
        self._mod_seen[signed.signer] = signed.seq
        return signed

    def _role_of(self, member: int) -> str | None:
        entry = self.circle.roster.get(member) if self.circle is not None else None
        return entry.role if entry is not None else None

    def _on_left(self, frame: Notice, circle: CircleCrypto) -> list[ev.Event]:
        """A member left (its own signature in ``proof``) or lost its connection (the server's
        word alone). The lead moves everyone else to a new epoch either way: a member the
        server no longer relays to must not keep getting keys (S5, SECURITY.md)."""
        target = frame.target
        entry = circle.roster.get(target) if target is not None else None
        if entry is None or target is None:
            return []
        text = notice_text(frame, {entry.member: entry.handle})
        if frame.proof is not None:
            verify_leave(entry.sign_key, frame.proof, circle.circle_id, target)
            if entry.sign_key == circle.root_key:
                circle.root_left = True
        else:
            text = f"{entry.handle} lost their connection"
        out: list[ev.Event] = [ev.NoticeReceived("left", target, text, False)]
        lead = self.lead
        # A (co-)facilitator leaves only by its own signed leave or a signed removal: the
        # server's word never takes a facilitator out of the circle.
        lost_facilitator = frame.proof is None and entry.role != "member"
        if (
            lead is not None
            and target != self.member
            and not lost_facilitator
            and (entry.sign_key != circle.root_key or circle.root_left)
        ):
            self._send(*lead.rekey(without=target))
        return out

    def _private_warning(self, signed: Moderate | None) -> list[ev.Event]:
        """A facilitator's private note to this member: only ever from the signed action."""
        if signed is None or signed.note is None or self.keys is None:
            raise TamperedError("a private note without a facilitator's signature")
        plain = crypto.open_padded(self.keys.box, signed.note, NOTE_BUCKETS, "warning")
        try:
            text = plain.decode()
        except UnicodeDecodeError:
            raise TamperedError("the private note is not text") from None
        return [ev.PrivateWarning(text)]

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

    def _lead_reacts(self, signed: Moderate) -> None:
        """The lead facilitator's client keeps keys and roster in step with what facilitators
        signed: a co-facilitator's removal, a delegation, a revocation, a hand-over."""
        target = signed.target
        if signed.action == "handover" and target == self.member:
            if target is None or self._role_of(target) != "facilitator":
                raise ForkError("handed the lead before the roster naming this member lead")
            if self.circle is not None and self.secrets is not None:
                self.lead = Facilitation(
                    self.circle, self.secrets, self.rng, cert=signed.cert, clock=self.clock
                )
            return
        lead = self.lead
        if lead is None or target is None:
            return
        if signed.action in ("remove", "ban"):
            if target in lead.circle.roster:
                self._send(*lead.rekey(without=target))
        elif signed.action == "delegate" and self._role_of(target) == "member":
            self._send(*lead.rekey(roles={target: "co"}))
        elif signed.action == "revoke" and self._role_of(target) == "co":
            self._send(*lead.rekey(roles={target: "member"}))
        elif signed.action == "handover":
            self.lead = None  # the roster naming the new lead went out before the hand-over

    def _on_timer(self, frame: Timer) -> list[ev.Event]:
        self.ends_at = frame.ends_at
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

    def _on_concern_notice(self, frame: ConcernNotice) -> list[ev.Event]:
        """A concern, signed inside its box by the member who raised it (S10): the server
        names the sender, the signature proves it."""
        circle = self.circle
        if circle is None:
            return []
        _epoch, plain = open_signed(circle, frame.sealed, CONCERN_BUCKETS, "concern", frame.sender)
        self._once(frame.sealed)
        content = decode_struct(ConcernContent, plain)
        handle = circle.handle_of(frame.sender) or "someone"
        return [ev.ConcernReceived(frame.sender, handle, content.target, content.note)]

    def _on_checkout_notice(self, frame: CheckoutNotice) -> list[ev.Event]:
        """A check-out mood: tagged under the epoch key, so it is from a member, not the
        server, though no one can tell which member (F11)."""
        circle = self.circle
        if circle is None or self.lead is None:
            return []
        plain = open_member(circle, frame.sealed, MOOD_BUCKETS)
        self._once(frame.sealed)
        mood = decode_struct(MoodContent, plain).mood
        self.lead.checkouts[mood] = self.lead.checkouts.get(mood, 0) + 1
        return [ev.CheckedOut(mood)]

    def _once(self, sealed: bytes) -> None:
        """The same box twice is a replay (ReplayError), not a second concern or mood."""
        digest = crypto.hash_bytes("box-seen", sealed, 16)
        if digest in self._boxes_seen:
            raise ReplayError("the same box was sent twice")
        self._boxes_seen.append(digest)

    def _unseat(self, member: int | None) -> None:
        """The lead seated someone the server then did not admit: take them out again, or
        they would get every later epoch key."""
        lead = self.lead
        if lead is None or member is None or member not in lead.admitting:
            return
        lead.admitting.remove(member)
        if member in lead.circle.roster:
            self._send(*lead.rekey(without=member))

    def _on_error(self, frame: Error) -> list[ev.Event]:
        if frame.ref == "admit" and self.lead is not None and self.lead.admitting:
            self._unseat(self.lead.admitting[0])  # the server answers in order
        # The server answers frames in order: a refused post is the oldest one not yet back.
        # It is not sent again after a resume (muted, slow mode, not one's turn).
        for key in self._unconfirmed:
            if key[0] == frame.ref:
                del self._unconfirmed[key]
                break
        return [ev.ErrorReceived(frame.code, frame.message, frame.ref)]

    # ------------------------------------------------------------------ state
    def _confirm(self, key: EchoKey, echoed: object) -> None:
        """What this client sent came back: it need not go out again after a resume. Only
        the very frame it sent counts, so a forged echo cannot cancel a resend (S10)."""
        sent = self._unconfirmed.get(key)
        if sent is not None and (getattr(sent, "env", sent) == echoed):
            del self._unconfirmed[key]

    def _note_rseq(self, rseq: int) -> None:
        self.last_rseq = max(self.last_rseq, rseq)

    def _roster_event(self) -> ev.RosterChanged:
        assert self.circle is not None
        members = tuple((e.member, e.handle, e.role) for _, e in sorted(self.circle.roster.items()))
        return ev.RosterChanged(members, f"epoch {self.circle.epoch} · {self.circle.fingerprint()}")


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
