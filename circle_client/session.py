"""The client session core: sans-I/O, no textual, no asyncio (PROTOCOL.md 3).

Feed it every frame from the server with :meth:`Session.receive`, which returns events for
the user interface; commands (:meth:`open_circle`, :meth:`join`, :meth:`post`, ...) queue
frames that the connection shell takes with :meth:`take_outgoing`. The same object carries a
member across reconnects: after a new ``server_hello`` it resumes by itself.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from circle_client.notices import notice_text
from protocol import crypto, limits
from protocol.codec import decode_struct, pack
from protocol.content import (
    ConcernContent,
    InfoContent,
    KnockContent,
    MoodContent,
    PinContent,
    PostContent,
    ReactContent,
    RetractContent,
    RosterContent,
    RosterEntry,
)
from protocol.crypto import CircleSecrets, MemberKeys, Random, SigningKeys, system_random
from protocol.errors import CircleError, CryptoError, EpochError, LocalProtocolError, ReplayError
from protocol.frames import (
    MESSAGE_FRAMES,
    PHASE_ACTIONS,
    Checkout,
    CheckoutNotice,
    CircleInfo,
    Closed,
    Concern,
    ConcernNotice,
    Declined,
    Envelope,
    Error,
    Frame,
    Hello,
    Join,
    Knock,
    Knocked,
    Leave,
    Lobby,
    LobbyRequest,
    Moderate,
    Notice,
    OpenCircle,
    Opened,
    PassTurn,
    Rekey,
    Relayed,
    Resume,
    Resumed,
    Roster,
    SealedTo,
    ServerHello,
    Timer,
    Welcome,
    action_phase,
    phase_action,
)
from protocol.group import CircleCrypto, open_info, seal_info, seal_knock
from protocol.handshake import approve, resume_proof, sign_moderate, sign_open
from protocol.invite import Invite

PENDING_LIMIT = 128
"""Messages held while waiting for the rekey that opens them."""
UNCONFIRMED_LIMIT = 256
"""Sent frames kept until the server relays them back (re-sent after a resume)."""

EchoKey = tuple[str, int, int]


def echo_key(frame: Frame) -> EchoKey | None:
    """How a frame this client sends is known again when the server relays it back to it.

    Sealed messages come back as ``relayed`` with the same epoch and sequence number; the
    lead's rekeys and rosters come back numbered. Nothing else is echoed.
    """
    if isinstance(frame, Rekey):
        return ("rekey", frame.epoch, 0)
    if isinstance(frame, Roster):
        return ("roster", frame.version, 0)
    if frame.TYPE in MESSAGE_FRAMES:
        env: Envelope = frame.env  # type: ignore[attr-defined]
        return (frame.TYPE, env.epoch, env.seq)
    return None


class Session:
    """One person's connection to one circle (or to the lobby)."""

    def __init__(self, rng: Random = system_random, clock: Callable[[], float] = time.time) -> None:
        self.rng = rng
        self.clock = clock
        self._outbox: list[Frame] = [Hello(version=limits.PROTOCOL_VERSION)]
        # Between a dropped connection and the resume, circle frames wait here; frames taken
        # for sending wait in _unconfirmed until the server relays them back (S6, resume).
        self._resuming = False
        self._held_out: list[Frame] = []
        self._unconfirmed: dict[EchoKey, Frame] = {}
        self.server: ev.Connected | None = None
        self.challenge = b""
        self.invite: Invite | None = None
        self.secrets: CircleSecrets | None = None
        self.keys: MemberKeys | None = None
        self.circle: CircleCrypto | None = None
        self.lead: Facilitation | None = None
        self.handle = ""
        self.member: int | None = None
        self.admitted = False
        self.closed = False
        self.auto_admit = False
        self.last_rseq = 0
        self.ends_at = 0.0
        self.muted_until = 0.0
        self.mod_seq = 0
        self.round: tuple[int, ...] = ()
        self.share_seconds: int | None = None  # the go-around's share timer, from round_start
        self.phase: str | None = None  # the agenda phase (F4)
        self._open_request: tuple[OpenCircle, InfoContent, str] | None = None
        self._pending: deque[Frame] = deque(maxlen=PENDING_LIMIT)
        self._held: list[Notice] = []
        self._unshown_roster = 0  # a roster this lead adopted on sending; shown on its echo
        self._unreadable: dict[tuple[int, int, int], None] = {}  # gaps already shown, in order
        self.server_url = ""

    # ------------------------------------------------------------------ plumbing
    def take_outgoing(self) -> list[Frame]:
        """Frames to write, in order. Those the server echoes are kept until it does."""
        out, self._outbox = self._outbox, []
        for frame in out:
            key = echo_key(frame)
            if key is not None:
                self._unconfirmed[key] = frame
                if len(self._unconfirmed) > UNCONFIRMED_LIMIT:
                    del self._unconfirmed[next(iter(self._unconfirmed))]
        return out

    def unsent(self, frames: list[Frame]) -> None:
        """The shell could not write these (taken last, in order): they go out again first."""
        for frame in frames:
            key = echo_key(frame)
            if key is not None:
                self._unconfirmed.pop(key, None)
        kept = [f for f in frames if not isinstance(f, Resume)]  # a new hello, a new proof
        if self._resuming:
            self._held_out[:0] = [f for f in kept if not isinstance(f, Hello)]
            kept = [f for f in kept if isinstance(f, Hello)]
        self._outbox[:0] = kept

    def reconnecting(self) -> None:
        """The connection dropped: the next connection starts with hello, then resumes and
        sends again whatever the server may not have had (it drops exact replays, S6)."""
        self.server = None
        if self.admitted and not self.closed and not self._resuming:
            self._resuming = True
            self._held_out[:0] = [f for f in self._outbox if not isinstance(f, Hello | Resume)]
        self._outbox = [Hello(version=limits.PROTOCOL_VERSION)]

    def _send(self, *frames: Frame) -> None:
        for frame in frames:
            if isinstance(frame, Rekey | Roster):
                self._adopt(frame)
        if self._resuming:
            self._held_out.extend(frames)
        else:
            self._outbox.extend(frames)

    def _confirm(self, key: EchoKey) -> None:
        self._unconfirmed.pop(key, None)

    def _adopt(self, frame: Rekey | Roster) -> None:
        """The lead moves to the epoch and roster it just signed, before the server echoes them.

        Whatever it seals next is then under the new key: a newcomer, who holds only that key,
        can read it, and a member just removed cannot (S5). Two admissions in a row also get
        two distinct epochs and roster versions, not the same numbers twice.
        """
        circle = self._require_circle()
        if isinstance(frame, Rekey):
            if not circle.apply_rekey(frame):
                raise LocalProtocolError("a rekey must include the facilitator who signs it")
        elif circle.apply_roster(frame):
            self._unshown_roster = frame.version

    def _require_circle(self) -> CircleCrypto:
        if self.circle is None or not self.admitted or self.closed:
            raise LocalProtocolError("not in a circle")
        return self.circle

    def _require_lead(self) -> Facilitation:
        if self.lead is None:
            raise LocalProtocolError("only the facilitator can do that")
        return self.lead

    # ------------------------------------------------------------------ commands
    def open_circle(
        self,
        server_url: str,
        *,
        handle: str,
        title: str,
        rules: str,
        minutes: int = 60,
        capacity: int = 12,
        listed: bool = False,
        auto_admit: bool = False,
        approval_key: SigningKeys | None = None,
    ) -> Invite:
        """Open a circle as its facilitator; the invite is ready once ``CircleOpened`` arrives."""
        if not self.challenge:
            raise LocalProtocolError("wait for the server's hello first")
        self.keys = MemberKeys.generate(self.rng)
        fpr = crypto.fingerprint(self.keys.sign.public)
        self.invite = Invite.create(server_url, fpr, self.rng)
        self.secrets = CircleSecrets.from_secret(self.invite.secret, self.invite.circle_id)
        self.handle, self.auto_admit = handle, auto_admit
        info_content = InfoContent(title=title, rules=rules, facilitator_box=self.keys.box.public)
        info = seal_info(
            self.secrets, self.invite.circle_id, self.keys.sign.public, info_content, self.rng
        )
        unsigned = OpenCircle(
            circle=self.invite.circle_id,
            facilitator_key=self.keys.sign.public,
            verifier=self.secrets.verifier,
            info=info,
            minutes=minutes,
            capacity=capacity,
            auto_admit=auto_admit,
            listed=listed,
            title=title if listed else None,
            secret=self.invite.secret if listed else None,
            approval=None
            if approval_key is None
            else approve(
                approval_key, self.challenge, self.invite.circle_id, self.keys.sign.public
            ),
            sig=bytes(64),
        )
        frame = sign_open(self.keys.sign, self.challenge, unsigned)
        self._open_request = (frame, info_content, handle)
        self._send(frame)
        return self.invite

    def join(self, invite: Invite | str) -> None:
        """Knock on a circle's door with an invite: proof first, the ground rules come back."""
        if not self.challenge:
            raise LocalProtocolError("wait for the server's hello first")
        self.invite = Invite.parse(invite) if isinstance(invite, str) else invite
        self.secrets = CircleSecrets.from_secret(self.invite.secret, self.invite.circle_id)
        self.keys = MemberKeys.generate(self.rng)
        proof = crypto.admission_proof(
            self.secrets,
            self.challenge,
            self.invite.circle_id,
            self.keys.sign.public,
            self.keys.box.public,
        )
        self._send(
            Join(
                circle=self.invite.circle_id,
                sign_key=self.keys.sign.public,
                box_key=self.keys.box.public,
                proof=proof,
            )
        )

    def accept_rules(self, handle: str, mood: str | None = None) -> None:
        """The user read and accepted the ground rules: knock with the (sealed) handle."""
        if self.secrets is None or self.invite is None or self.keys is None:
            raise LocalProtocolError("join a circle first")
        self.handle = handle
        content = KnockContent(handle=handle, mood=mood)
        sealed = seal_knock(self.secrets, self.invite.circle_id, self.keys, content, self.rng)
        self._send(Knock(sealed=sealed))

    def _seal(
        self, kind: str, content: PostContent | ReactContent | RetractContent | PinContent
    ) -> tuple[int, int, int]:
        circle = self._require_circle()
        env = circle.seal(kind, content)
        self._send(MESSAGE_FRAMES[kind](env=env))
        return (circle.member, env.epoch, env.seq)

    def post(
        self,
        body: str,
        *,
        reply_to: tuple[int, int, int] | None = None,
        warning: str | None = None,
        me: bool = False,
    ) -> tuple[int, int, int]:
        return self._seal("post", PostContent(body=body, reply_to=reply_to, warning=warning, me=me))

    def react(self, target: tuple[int, int, int], reaction: str) -> None:
        self._seal("react", ReactContent(target=target, reaction=reaction))

    def retract(self, target: tuple[int, int, int]) -> None:
        if target[0] != self.member:
            raise LocalProtocolError("you can only take back your own messages")
        self._seal("retract", RetractContent(target=target))

    def pin(self, body: str) -> None:
        self._require_lead().pinned = body
        self._seal("pin", PinContent(body=body))

    def pass_turn(self) -> None:
        self._send(PassTurn())

    def leave(self, mood: str | None = None) -> None:
        """Leave now; with a ``mood``, first check out anonymously to the facilitators (F11)."""
        if not self.closed:
            if mood is not None and self.circle is not None and self.admitted:
                plain = pack(MoodContent(mood=mood).to_map())
                to = tuple(
                    SealedTo(member=e.member, sealed=crypto.seal_to(e.box_key, plain, self.rng))
                    for e in self.circle.roster.values()
                    if e.role in ("facilitator", "co") and e.member != self.member
                )
                if to:
                    self._send(Checkout(to=to))
            self._send(Leave())
        self.wipe()

    def request_lobby(self) -> None:
        self._send(LobbyRequest())

    def concern(self, target: tuple[int, int, int] | None, note: str) -> None:
        """Flag a message to the facilitators only, sealed to each of them (F16)."""
        circle = self._require_circle()
        plain = pack(ConcernContent(target=target, note=note).to_map())
        to = tuple(
            SealedTo(member=e.member, sealed=crypto.seal_to(e.box_key, plain, self.rng))
            for e in circle.roster.values()
            if e.role in ("facilitator", "co") and e.member != self.member
        )
        if not to:
            raise LocalProtocolError("there is no facilitator to tell")
        self._send(Concern(to=to))

    # facilitator commands --------------------------------------------------------------
    def admit(self, member: int) -> None:
        self._send(*self._require_lead().admit(member))

    def decline(self, member: int) -> None:
        self._send(self._require_lead().decline(member))

    def moderate(
        self,
        action: str,
        *,
        target: int | None = None,
        minutes: int | None = None,
        seconds: int | None = None,
        order: tuple[int, ...] = (),
        note: str | None = None,
    ) -> None:
        """Sign and send a moderation action (F17); a private warning's note is sealed.

        Facilitators and co-facilitators moderate; only the lead delegates and hands over.
        A hand-over first publishes the roster naming the new lead (signed while this key
        still leads), then asks the server to move the role.
        """
        circle = self._require_circle()
        if self.role() not in ("facilitator", "co"):
            raise LocalProtocolError("only a facilitator can do that")
        sealed_note = None
        cert = None
        key = None
        if note is not None and target is not None:
            sealed_note = crypto.seal_to(circle.roster[target].box_key, note.encode(), self.rng)
        if action in ("delegate", "handover") and target is not None:
            lead = self._require_lead()
            cert = lead.delegation(target, "co" if action == "delegate" else "facilitator")
            key = cert.key
            if action == "handover" and self.member is not None:
                self._send(*lead.rekey(roles={target: "facilitator", self.member: "member"}))
        self._send(
            self.sign_moderation(
                action,
                target=target,
                minutes=minutes,
                seconds=seconds,
                order=order,
                note=sealed_note,
                key=key,
                cert=cert,
            )
        )

    def set_phase(self, phase: str | None) -> None:
        """Show everyone the agenda phase with the clock (F4); ``None`` clears it."""
        self.moderate(phase_action(phase))

    def sign_moderation(self, action: str, **fields: Any) -> Moderate:
        """A signed moderation frame with this member's key and the next sequence number."""
        circle = self._require_circle()
        self.mod_seq += 1
        return sign_moderate(self.keys.sign, circle.circle_id, self.mod_seq, action, **fields)  # type: ignore[union-attr]

    def role(self) -> str:
        """This member's role on the verified roster: member, co or facilitator."""
        if self.circle is None or self.member is None:
            return "member"
        entry = self.circle.roster.get(self.member)
        return entry.role if entry is not None else "member"

    # ------------------------------------------------------------------ receiving
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
        self.challenge = frame.challenge
        self.server = ev.Connected(frame.guidelines, frame.crisis, frame.open_policy, frame.lobby)
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
            out.append(ev.MessageReceived(opened.id, opened.sender, handle, content, mine))
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
                    text = crypto.open_sealed(self.keys.box, frame.note, "warning").decode()
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
            plain = crypto.open_sealed(self.keys.box, frame.sealed, "concern")
            content = decode_struct(ConcernContent, plain)
        except CircleError:
            return [ev.SecurityAlert("A concern could not be read.")]
        handle = self.circle.handle_of(frame.sender) or "someone"
        return [ev.ConcernReceived(frame.sender, handle, content.target, content.note)]

    def _on_checkout_notice(self, frame: CheckoutNotice) -> list[ev.Event]:
        if self.keys is None or self.lead is None:
            return []
        try:
            plain = crypto.open_sealed(self.keys.box, frame.sealed, "check-out")
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
    def _note_rseq(self, rseq: int) -> None:
        self.last_rseq = max(self.last_rseq, rseq)

    def _roster_event(self) -> ev.RosterChanged:
        assert self.circle is not None
        members = tuple((e.member, e.handle, e.role) for _, e in sorted(self.circle.roster.items()))
        return ev.RosterChanged(members, self.circle.fingerprint())

    def fingerprint(self) -> str:
        return self._require_circle().fingerprint()

    def handle_of(self, member: int) -> str:
        if self.circle is None:
            return "someone"
        return self.circle.handle_of(member) or "someone"

    def wipe(self) -> None:
        """F5: drop keys, roster and pending messages from memory."""
        if self.circle is not None:
            self.circle.wipe()
        self.closed = True
        self.admitted = False
        self.lead = None
        self.secrets = None
        self.phase = None
        self._pending.clear()
        self._unconfirmed.clear()
        self._held_out.clear()
        self._resuming = False
