"""The client session core: sans-I/O, no textual, no asyncio (PROTOCOL.md 3).

:class:`Session` holds one member's state and the commands (:meth:`open_circle`, :meth:`join`,
:meth:`post`, ...) that queue frames the connection shell takes with :meth:`take_outgoing`.
Feed it every frame from the server with :meth:`Session.receive`, which returns events for
the user interface; that half, the inbound frame handlers, lives in
:mod:`circle_client.inbound`. The same object carries a member across reconnects: after a new
``server_hello`` it resumes by itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypedDict

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from circle_client.inbound import OVERDUE_SECONDS, PENDING_LIMIT, EchoKey, Inbound
from protocol import crypto, limits
from protocol.codec import pack
from protocol.content import (
    MAX_SKIPPED,
    ConcernContent,
    InfoContent,
    KnockContent,
    MoodContent,
    PinContent,
    PostContent,
    ReactContent,
    RetractContent,
    RosterEntry,
)
from protocol.crypto import CircleSecrets, MemberKeys, Random, SigningKeys, system_random
from protocol.errors import LocalProtocolError
from protocol.frames import (
    MESSAGE_FRAMES,
    Checkout,
    Concern,
    Envelope,
    Frame,
    Hello,
    Join,
    KeyUpdate,
    Knock,
    Leave,
    LobbyRequest,
    Moderate,
    Notice,
    OpenCircle,
    PassTurn,
    Rekey,
    Resume,
    Roster,
    SealedTo,
    phase_action,
)
from protocol.group import (
    CONCERN_BUCKETS,
    MOOD_BUCKETS,
    NOTE_BUCKETS,
    CircleCrypto,
    seal_info,
    seal_knock,
    seal_member_to,
    seal_signed_to,
)
from protocol.handshake import approve, leave_proof, sign_moderate, sign_open
from protocol.invite import Invite
from protocol.names import handle_problem, normalise_handle
from protocol.states import ClientState, client_after

UNCONFIRMED_LIMIT = 256
"""Sent frames kept until the server relays them back (re-sent after a resume)."""

__all__ = [
    "OVERDUE_SECONDS",
    "PENDING_LIMIT",
    "UNCONFIRMED_LIMIT",
    "EchoKey",
    "Session",
    "echo_key",
]


def echo_key(frame: Frame) -> EchoKey | None:
    """How a frame this client sends is known again when the server relays it back to it.

    Sealed messages come back as ``relayed`` with the same epoch and sequence number; the
    lead's rekeys and rosters come back numbered. Nothing else is echoed.
    """
    if isinstance(frame, Rekey):
        return ("rekey", frame.epoch, 0)
    if isinstance(frame, KeyUpdate):
        return ("key_update", frame.epoch, 0)
    if isinstance(frame, Roster):
        return ("roster", frame.version, 0)
    if frame.TYPE in MESSAGE_FRAMES:
        env: Envelope = frame.env  # type: ignore[attr-defined]
        return (frame.TYPE, env.epoch, env.seq)
    return None


class ModerateOptions(TypedDict, total=False):
    """What a moderation action may carry (the keywords of :meth:`Session.moderate`)."""

    target: int | None
    minutes: int | None
    seconds: int | None
    order: tuple[int, ...]
    note: str | None


class Session(Inbound):
    """One person's connection to one circle (or to the lobby).

    Commands and outgoing plumbing live here; :class:`~circle_client.inbound.Inbound` adds
    :meth:`receive` and the per-frame handlers.
    """

    def __init__(self, rng: Random = system_random, clock: Callable[[], float] = time.time) -> None:
        self.rng = rng
        self.clock = clock
        self._outbox: list[Frame] = [Hello(version=limits.PROTOCOL_VERSION)]
        # Between a dropped connection and the resume, circle frames wait here; frames taken
        # for sending wait in _unconfirmed until the server relays them back (S6, resume).
        self._resuming = False
        self._held_out: list[Frame] = []
        self._unconfirmed: dict[EchoKey, Frame] = {}
        self._refused: list[tuple[int, int]] = []  # (epoch, seq) of posts the server refused
        self._carried: dict[EchoKey, list[int]] = {}  # refused numbers a message in flight names
        self.server: ev.Connected | None = None
        self.challenge = b""
        self.invite: Invite | None = None
        self.secrets: CircleSecrets | None = None
        self.keys: MemberKeys | None = None
        self.circle: CircleCrypto | None = None
        self.lead: Facilitation | None = None
        self.handle = ""
        self.member: int | None = None
        self.state = ClientState.CONNECTING
        self.auto_admit = False
        self.last_rseq = 0
        self.ends_at = 0.0
        self.muted_until = 0.0
        self.mod_seq = 0
        self.round: tuple[int, ...] = ()
        self.share_seconds: int | None = None  # the go-around's share timer, from round_start
        self.turn_started = 0.0  # when the go-around's current turn began, by self.clock
        self.members: tuple[tuple[int, str, str], ...] = ()  # the roster as last shown
        self.locked = False  # a facilitator locked the circle (F17)
        self.slow_seconds = 0  # slow mode: seconds between one member's messages; 0 is off
        self.paused = False  # no facilitator connected: admissions wait (PROTOCOL.md 3.3)
        self.phase: str | None = None  # the agenda phase (F4)
        self._open_request: tuple[OpenCircle, InfoContent, str] | None = None
        self._pending: deque[Frame] = deque(maxlen=PENDING_LIMIT)
        self._held: list[Notice] = []
        self._unshown_roster = 0  # a roster this lead adopted on sending; shown on its echo
        self._unreadable: dict[tuple[int, int, int], None] = {}  # gaps already shown, in order
        self._mod_seen: dict[bytes, int] = {}  # newest verified moderation seq per signer
        self._boxes_seen: deque[bytes] = deque(maxlen=PENDING_LIMIT)  # concerns, check-outs
        self._held_since: float | None = None  # when frames began waiting for a rekey
        self._expect_gone: dict[int, float] = {}  # removals this member signed, by when
        self._alerted: set[str] = set()  # overdue alerts already raised
        self._knock: KnockContent | None = None  # what this member knocked with, to catch up
        self._catching_up = False
        self.server_url = ""
        self.trusted_keys: frozenset[bytes] = frozenset()
        """Host-approved facilitator keys this person pins: the lobby then lists only circles
        one of them vouches for (the server's word alone is not enough)."""

    @property
    def admitted(self) -> bool:
        """In the circle (PROTOCOL.md 7.2)."""
        return self.state is ClientState.ADMITTED

    @property
    def closed(self) -> bool:
        """Left, declined, removed, or the circle ended: keys are wiped."""
        return self.state is ClientState.CLOSED

    def _move(self, event: str) -> None:
        self.state = client_after(self.state, event)

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

    @property
    def resuming(self) -> bool:
        """The connection dropped and the circle has not been resumed yet."""
        return self._resuming

    def reconnecting(self) -> None:
        """The connection dropped: the next connection starts with hello, then resumes and
        sends again whatever the server may not have had (it drops exact replays, S6)."""
        self.server = None
        if self.admitted and not self.closed and not self._resuming:
            self._resuming = True
            self._held_out[:0] = [f for f in self._outbox if not isinstance(f, Hello | Resume)]
        self._outbox = [Hello(version=limits.PROTOCOL_VERSION)]

    def _send(self, *frames: Frame) -> None:
        adopted = False
        for frame in frames:
            if isinstance(frame, Rekey | Roster):
                self._adopt(frame)
                adopted = True
        if self._resuming:
            self._held_out.extend(frames)
        else:
            self._outbox.extend(frames)
        if adopted:
            self._announce_key()  # after its own commit, the lead too announces its next key

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
        problem = handle_problem(normalise_handle(handle))
        if problem is not None:
            raise LocalProtocolError(problem)
        handle = normalise_handle(handle)
        if not 2 <= capacity <= limits.MAX_HYBRID_CAPACITY:
            raise LocalProtocolError(
                f"A circle has between 2 and {limits.MAX_HYBRID_CAPACITY} seats; choose a "
                "number in that range."
            )
        if listed and auto_admit:
            raise LocalProtocolError(
                "a listed circle cannot admit everyone automatically: anyone, the server "
                "included, can knock on it"
            )
        self._move("open")
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
                approval_key,
                self.challenge,
                self.invite.circle_id,
                self.keys.sign.public,
                title if listed else "",
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
        self._move("join")
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
        self._move("knock")
        self.handle = handle
        self._knock = KnockContent(handle=handle, mood=mood)
        self._send(self._knock_frame(self._knock))

    def _knock_frame(self, content: KnockContent) -> Knock:
        """A knock announcing this member's newest epoch key, which the welcome seals to."""
        assert self.secrets is not None and self.invite is not None and self.keys is not None
        circle = self.circle
        if circle is None:
            raise LocalProtocolError("the circle's details have not arrived yet")
        key_id, public = circle.newest_key()
        sealed = seal_knock(
            self.secrets, self.invite.circle_id, self.keys, key_id, public, content, self.rng
        )
        return Knock(sealed=sealed, key=key_id, x25519=public.x25519, mlkem=public.mlkem)

    def catch_up(self) -> None:
        """Ask the lead to welcome this member again, to where the circle is now: after a
        resume that came too late to replay every key change (PROTOCOL.md 3.3, Resuming)."""
        if self.admitted and self._knock is not None and not self._catching_up:
            self._catching_up = True
            self._send(self._knock_frame(self._knock))

    def _seal(
        self, kind: str, content: PostContent | ReactContent | RetractContent | PinContent
    ) -> tuple[int, int, int]:
        circle = self._require_circle()
        # The numbers the server refused in this epoch go along, so nobody counts them lost.
        skipped = [seq for epoch, seq in self._refused if epoch == circle.epoch]
        if skipped:
            content = dataclasses.replace(content, skipped=tuple(skipped[:MAX_SKIPPED]))
        env = circle.seal(kind, content)
        self._refused = [(env.epoch, seq) for seq in skipped[MAX_SKIPPED:]]  # the next one
        if skipped[:MAX_SKIPPED]:  # until it is relayed: refused too, they go with the next
            self._carried[(kind, env.epoch, env.seq)] = skipped[:MAX_SKIPPED]
            while len(self._carried) > PENDING_LIMIT:
                del self._carried[next(iter(self._carried))]
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
            circle = self.circle if self.admitted else None
            if mood is not None and circle is not None:
                plain = pack(MoodContent(mood=mood).to_map())
                to = tuple(
                    SealedTo(
                        member=e.member,
                        sealed=seal_member_to(circle, e, plain, MOOD_BUCKETS, self.rng),
                    )
                    for e in self._facilitators(circle)
                )
                if to:
                    self._send(Checkout(to=to))
            proof = None
            if circle is not None and self.keys is not None:
                proof = leave_proof(self.keys.sign, circle.circle_id, circle.member)
            self._send(Leave(proof=proof))
        self.wipe()

    def _facilitators(self, circle: CircleCrypto) -> list[RosterEntry]:
        """The other facilitators and co-facilitators who hold the current epoch."""
        return circle.facilitators_now(exclude=self.member)

    def request_lobby(self) -> None:
        self._send(LobbyRequest())

    def concern(self, target: tuple[int, int, int] | None, note: str) -> None:
        """Flag a message to the facilitators only, sealed to each of them (F16)."""
        circle = self._require_circle()
        plain = pack(ConcernContent(target=target, note=note).to_map())
        to = tuple(
            SealedTo(
                member=e.member,
                sealed=seal_signed_to(
                    circle.keys.sign,
                    circle.circle_id,
                    "concern",
                    circle.epoch,
                    circle.member,
                    e,
                    plain,
                    CONCERN_BUCKETS,
                    self.rng,
                ),
            )
            for e in self._facilitators(circle)
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
            text = note.encode()
            if len(text) > limits.MAX_WARNING_BYTES:
                raise LocalProtocolError("that note is too long")
            box_key = circle.roster[target].box_key
            sealed_note = crypto.seal_padded_to(box_key, text, NOTE_BUCKETS, self.rng)
        after: list[Frame] = []
        if action in ("remove", "ban") and target is not None and target in circle.roster:
            if self.lead is not None:
                # The lead's own decision: the new epoch follows the removal at once, so the
                # rekey never waits on the server's word (S5, S10). It goes out after the
                # removal, so the person removed hears that first.
                after = self.lead.rekey(without=target)
            else:
                self._expect_gone[target] = self.clock() + OVERDUE_SECONDS
        if action == "revoke" and target is not None and self.lead is not None:
            entry = circle.roster.get(target)
            if entry is not None and entry.role == "co":
                after = self.lead.rekey(roles={target: "member"})  # its own decision too
        if action in ("delegate", "handover") and target is not None:
            lead = self._require_lead()
            cert = lead.delegation(target, "co" if action == "delegate" else "facilitator")
            key = cert.key
            if action == "handover" and self.member is not None:
                self._send(*lead.rekey(roles={target: "facilitator", self.member: "member"}))
                self.lead = None  # the roster it just signed names the new lead: it stops now
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
        self._send(*after)

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

    # ------------------------------------------------------------------ state
    def fingerprint(self) -> str:
        """``epoch N · dddd dddd dddd dddd dddd``: what members compare aloud (S4). Members
        at the same epoch who read the same digits hold the same history."""
        circle = self._require_circle()
        return f"epoch {circle.epoch} · {circle.fingerprint()}"

    def handle_of(self, member: int) -> str:
        if self.circle is None:
            return "someone"
        return self.circle.handle_of(member) or "someone"

    def wipe(self) -> None:
        """F5, S11: drop every secret and what the circle showed: member keys, epoch keys,
        the invite and what it derives, the roster, pending frames. Frames already queued to
        go out (a signed leave, a check-out) stay: they are ciphertext or signatures."""
        if self.circle is not None:
            self.circle.wipe()
        self._move("wipe")
        self.circle = None
        self.lead = None
        self.keys = None
        self.invite = None
        self.secrets = None
        self._open_request = None
        self._knock = None
        self.handle = ""
        self.phase = None
        self.members = ()
        self.round, self.share_seconds, self.turn_started = (), None, 0.0
        self.locked, self.slow_seconds, self.paused = False, 0, False
        self._pending.clear()
        self._unconfirmed.clear()
        self._refused.clear()
        self._carried.clear()
        self._held_out.clear()
        self._resuming = False
