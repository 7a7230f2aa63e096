"""The pure circle registry: frames in, actions out, time from an injected clock (sans-I/O).

The asyncio shell (server.py) feeds it decoded frames per connection and carries out the
returned actions: :class:`Send` one frame to one connection, :class:`Publish` one frame to
every connected member of a circle, :class:`Close` a connection. Every rejection becomes an
``error`` frame with a stable code here, in one place; exception details never reach a peer.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from circle_server import admission, talk
from circle_server.actions import Action, Close, CloseCode, Publish, Rejection, Send
from circle_server.circle import WARNING_MINUTES, Circle, Member
from circle_server.config import ServerConfig
from circle_server.moderation import apply_moderation
from circle_server.ratelimit import TokenBucket
from protocol import crypto, handshake, limits
from protocol.errors import CryptoError, ErrorCode, ProtocolError
from protocol.frames import (
    MESSAGE_FRAMES,
    Admit,
    Approval,
    Checkout,
    Closed,
    Concern,
    Decline,
    Delegation,
    Envelope,
    Error,
    Frame,
    Hello,
    Join,
    KeyUpdate,
    Knock,
    Leave,
    Lobby,
    LobbyEntry,
    LobbyRequest,
    Moderate,
    Notice,
    OpenCircle,
    PassTurn,
    Rekey,
    Resume,
    Roster,
    ServerHello,
    Timer,
)
from protocol.states import (
    CircleState,
    MemberState,
    check_frame_allowed,
    circle_after,
    member_after,
)

log = logging.getLogger("circle_server.registry")


MAX_GARBAGE = 5
"""Malformed or out-of-order frames tolerated from one connection before it is closed."""
TAKE_OVER_SETTLE = 10.0
"""Seconds the members of a circle taken over from a dead node have to resume before a
facilitator who has not come back counts as gone (capped by ``resume_grace``)."""
UNMETERED = frozenset({Admit, Decline, Roster, Rekey, Moderate})
"""A facilitator's housekeeping (one admission is three frames) does not spend tokens;
the same frames from anyone else do."""


@dataclass(slots=True)
class Conn:
    id: int
    address: bytes
    challenge: bytes
    bucket: TokenBucket
    hello: bool = False
    state: MemberState = MemberState.CONNECTED
    circle: bytes | None = None
    member: int | None = None
    garbage: int = 0


@dataclass
class Stats:
    """Counts only (F20): exported as Prometheus metrics by the shell."""

    frames_in: int = 0
    frames_out: int = 0
    rejects: dict[int, int] = field(default_factory=dict)
    circles_opened: int = 0
    take_overs: int = 0
    """Circles this node adopted from a node that stopped (scale-out)."""
    resumes: dict[str, int] = field(default_factory=lambda: {"complete": 0, "lost": 0})
    """Resumes by outcome: every missed frame replayed, or some too old to replay."""


class Registry:
    """All circles of one server process."""

    def __init__(
        self,
        config: ServerConfig,
        clock: Callable[[], float],
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng
        self.circles: dict[bytes, Circle] = {}
        self.conns: dict[int, Conn] = {}
        self._next_conn = 1
        self._address_salt = rng(32)
        self.stats = Stats()
        self.approved = {bytes.fromhex(k) for k in config.approved_keys}
        self.remote_lobby: Callable[[], tuple[LobbyEntry, ...]] = tuple
        """Listed circles other nodes own (scale-out); none in a single process."""

    # ------------------------------------------------------------------ connections
    def address_key(self, address: str) -> bytes:
        """Keyed hash of a client address: comparable within this process, never reversible."""
        return hashlib.blake2b(address.encode(), key=self._address_salt, digest_size=16).digest()

    def connect(self, address: str) -> tuple[int, list[Action]]:
        conn = Conn(
            id=self._next_conn,
            address=self.address_key(address),
            challenge=self.rng(limits.CHALLENGE_BYTES),
            bucket=TokenBucket.full(
                self.config.rate_per_second, self.config.rate_burst, self.clock()
            ),
        )
        self._next_conn += 1
        self.conns[conn.id] = conn
        return conn.id, []

    def adopt(self, challenge: bytes, address: bytes) -> int:
        """A connection held by another node (scale-out): it said hello there, to that node's
        ``challenge``; ``address`` is hashed with the salt the nodes share."""
        conn = Conn(
            id=self._next_conn,
            address=address,
            challenge=challenge,
            bucket=TokenBucket.full(
                self.config.rate_per_second, self.config.rate_burst, self.clock()
            ),
            hello=True,
        )
        self._next_conn += 1
        self.conns[conn.id] = conn
        return conn.id

    def adopt_circle(self, circle: Circle) -> list[Action]:
        """Take over a circle whose owner node died (scale-out); its members resume here."""
        self.circles[circle.id] = circle
        self.stats.take_overs += 1
        circle.settling_until = self.clock() + min(self.config.resume_grace, TAKE_OVER_SETTLE)
        return []

    @property
    def address_salt(self) -> bytes:
        return self._address_salt

    def release(self, circle_id: bytes) -> list[Action]:
        """Another node runs this circle now (scale-out): forget it here without a word to
        anyone but its members connected here, who reconnect and resume there."""
        circle = self.circles.pop(circle_id, None)
        if circle is None:
            return []
        out: list[Action] = []
        for member in circle.members.values():
            if member.conn is not None:
                out.append(Close(member.conn, CloseCode.RESUME, "reconnect and resume"))
                self.detach(member.conn)
        return out

    def share_salt(self, salt: bytes) -> None:
        """Use the address-hash salt every node of a cluster shares, so bans by address hold
        across nodes. Memory only, like the rest."""
        self._address_salt = salt

    def disconnect(self, conn_id: int) -> list[Action]:
        conn = self.conns.pop(conn_id, None)
        if conn is None or conn.circle is None or conn.member is None:
            return []
        circle = self.circles.get(conn.circle)
        member = circle.members.get(conn.member) if circle else None
        if circle is None or member is None or member.conn != conn_id:
            return []
        member.conn = None
        out: list[Action] = []
        if member.state in (MemberState.PROVED, MemberState.WAITING):
            member.state = member_after(member.state, "drop")
            del circle.members[member.id]
            out += self.to_facilitators(
                circle, self.notice(circle, "left", member.id, stream=False)
            )
        elif member.state is MemberState.ADMITTED:
            member.state = member_after(member.state, "drop")
            member.away_since = self.clock()
            out += self.check_facilitator_presence(circle)
        return out

    # ------------------------------------------------------------------ entry point
    def receive(self, conn_id: int, frame: Frame) -> list[Action]:
        conn = self.conns.get(conn_id)
        if conn is None:
            return []
        self.stats.frames_in += 1
        now = self.clock()
        try:
            metered = type(frame) is not KeyUpdate and (
                type(frame) not in UNMETERED or not self._facilitates(conn)
            )
            if metered and not conn.bucket.take(now):
                close = (
                    CloseCode.RATE_LIMITED
                    if conn.bucket.strikes >= self.config.rate_strikes
                    else None
                )
                raise Rejection(ErrorCode.RATE_LIMITED, "Slow down: too many messages.", close)
            return self._dispatch(conn, frame, now)
        except Rejection as rej:
            # A message: name the number that is never relayed, for its sender's next one.
            env = getattr(frame, "env", None) if frame.TYPE in MESSAGE_FRAMES else None
            return self._reject(conn, rej.code, str(rej), frame.TYPE, rej.close, env)
        except ProtocolError as exc:
            conn.garbage += 1
            close = CloseCode.POLICY if conn.garbage >= MAX_GARBAGE else None
            return self._reject(conn, exc.code, str(exc), frame.TYPE, close)

    def receive_garbage(self, conn_id: int, error: ProtocolError) -> list[Action]:
        """A websocket message that did not decode as a frame."""
        conn = self.conns.get(conn_id)
        if conn is None:
            return []
        self.stats.frames_in += 1
        conn.garbage += 1
        close = CloseCode.POLICY if conn.garbage >= MAX_GARBAGE else None
        return self._reject(conn, error.code, str(error), None, close)

    def _reject(
        self,
        conn: Conn,
        code: ErrorCode,
        message: str,
        ref: str | None,
        close: int | None,
        env: Envelope | None = None,
    ) -> list[Action]:
        self.stats.rejects[int(code)] = self.stats.rejects.get(int(code), 0) + 1
        log.debug("rejected a %s frame: code %d", ref or "undecodable", int(code))
        epoch, seq = (env.epoch, env.seq) if env is not None else (None, None)
        error = Error(code=int(code), message=message[:500], ref=ref, epoch=epoch, seq=seq)
        out: list[Action] = [Send(conn.id, error)]
        if close is not None:
            out.append(Close(conn.id, close, code.name.lower()))
        return out

    def _dispatch(self, conn: Conn, frame: Frame, now: float) -> list[Action]:
        if isinstance(frame, Hello):
            return self._hello(conn, frame)
        if not conn.hello:
            raise Rejection(ErrorCode.OUT_OF_ORDER, "Say hello first.", CloseCode.POLICY)
        check_frame_allowed(conn.state, frame.TYPE)
        if isinstance(frame, OpenCircle):
            return admission.open_circle(self, conn, frame, now)
        if isinstance(frame, Join):
            return admission.join_circle(self, conn, frame)
        if isinstance(frame, Resume):
            return admission.resume(self, conn, frame)
        if isinstance(frame, LobbyRequest):
            return self._lobby(conn)
        circle, member = self._seat(conn)
        if isinstance(frame, Knock):
            return admission.knock(self, circle, member, frame)
        if isinstance(frame, Leave):
            return self._leave(circle, member, frame)
        if frame.TYPE in MESSAGE_FRAMES:
            return talk.message(self, circle, member, frame, now)  # type: ignore[arg-type]
        if isinstance(frame, PassTurn):
            return talk.pass_turn(self, circle, member, now)
        if isinstance(frame, Concern):
            return talk.concern(circle, member, frame, now)
        if isinstance(frame, Checkout):
            return talk.checkout(circle, member, frame)
        if isinstance(frame, KeyUpdate):
            return talk.key_update(self, circle, member, frame)
        if not member.is_facilitator:
            raise Rejection(ErrorCode.NOT_ALLOWED, "Only a facilitator can do that.")
        if isinstance(frame, Admit):
            return admission.admit(self, circle, frame)
        if isinstance(frame, Decline):
            return admission.decline(self, circle, frame)
        if isinstance(frame, Roster | Rekey):
            return talk.stream(self, circle, frame)
        if isinstance(frame, Moderate):
            return self._moderate(circle, member, frame, now)
        raise Rejection(ErrorCode.OUT_OF_ORDER, f"A {frame.TYPE!r} frame is not for the server.")

    def _facilitates(self, conn: Conn) -> bool:
        circle = self.circles.get(conn.circle) if conn.circle else None
        member = circle.members.get(conn.member) if circle and conn.member else None
        return member is not None and member.is_facilitator

    def _seat(self, conn: Conn) -> tuple[Circle, Member]:
        circle = self.circles.get(conn.circle) if conn.circle else None
        member = circle.members.get(conn.member) if circle and conn.member else None
        if circle is None or member is None:
            raise Rejection(
                ErrorCode.NO_SUCH_CIRCLE, "This circle has ended.", CloseCode.CIRCLE_CLOSED
            )
        return circle, member

    # ------------------------------------------------------------------ handshake
    def _hello(self, conn: Conn, frame: Hello) -> list[Action]:
        if conn.hello:
            raise Rejection(ErrorCode.OUT_OF_ORDER, "Hello was already said.")
        if frame.version not in limits.SUPPORTED_VERSIONS:
            raise Rejection(
                ErrorCode.UNSUPPORTED_VERSION,
                f"This server speaks Circle protocol {limits.PROTOCOL_VERSION}; "
                "update your circle client.",
                CloseCode.UNSUPPORTED_VERSION,
            )
        conn.hello = True
        c = self.config
        return [
            Send(
                conn.id,
                ServerHello(
                    version=limits.PROTOCOL_VERSION,
                    challenge=conn.challenge,
                    guidelines=c.guidelines,
                    crisis=c.crisis_resources,
                    max_frame=c.max_frame_bytes,
                    lobby=c.lobby,
                    open_policy=c.open_policy,
                    risk_phrases=c.risk_phrases,
                ),
            )
        ]

    def _leave(self, circle: Circle, member: Member, frame: Leave) -> list[Action]:
        # The member's own signature goes out with the notice; the server does not check it
        # (members do, S10), but a proof from someone not seated is of no use to anyone.
        proof = frame.proof if member.seated else None
        return self.depart(circle, member, "leave", "left", CloseCode.NORMAL, proof=proof)

    def depart(
        self,
        circle: Circle,
        member: Member,
        event: str,
        notice: str,
        code: int,
        *,
        signed: Moderate | None = None,
        proof: bytes | None = None,
    ) -> list[Action]:
        was_seated = member.seated
        member.state = member_after(member.state, event)
        del circle.members[member.id]
        out: list[Action] = []
        if member.conn is not None:
            out.append(Close(member.conn, code, notice))
            self.detach(member.conn)
        if circle.round and member.id in circle.round.order:
            circle.round.order.remove(member.id)
        if was_seated:
            notice_frame = self.notice(circle, notice, member.id, signed=signed, proof=proof)
            out += self.publish(circle, notice_frame)
            out += self.check_facilitator_presence(circle)
        else:
            out += self.to_facilitators(
                circle, self.notice(circle, notice, member.id, stream=False)
            )
        return out

    # ------------------------------------------------------------------ moderation
    def _moderate(
        self, circle: Circle, member: Member, frame: Moderate, now: float
    ) -> list[Action]:
        if frame.signer != member.sign_key:
            raise Rejection(ErrorCode.BAD_SIGNATURE, "Moderation must be signed with your own key.")
        try:
            handshake.verify_moderate(circle.id, frame)
        except CryptoError:
            raise Rejection(
                ErrorCode.BAD_SIGNATURE, "The moderation action is not signed correctly."
            ) from None
        if frame.seq <= circle.moderation_seq.get(frame.signer, 0):
            raise Rejection(ErrorCode.REPLAYED, "This moderation action was already applied.")
        circle.moderation_seq[frame.signer] = frame.seq
        return apply_moderation(self, circle, member, frame, now)

    # ------------------------------------------------------------------ time
    def tick(self) -> list[Action]:
        """Fire due timers: warnings, the end, facilitator grace, resume grace, share timers."""
        now = self.clock()
        out: list[Action] = []
        for circle in list(self.circles.values()):
            if now >= circle.ends_at:
                out += self.close_circle(circle, "time_up")
                continue
            if circle.paused_until is not None and now >= circle.paused_until:
                out += self.close_circle(circle, "no_facilitator")
                continue
            if circle.settling_until is not None and now >= circle.settling_until:
                circle.settling_until = None
                out += self.check_facilitator_presence(circle)
            left = circle.ends_at - now
            for minutes in sorted(WARNING_MINUTES):  # the nearest threshold only
                if left <= minutes * 60 and minutes not in circle.warnings_sent:
                    circle.warnings_sent.update(m for m in WARNING_MINUTES if m >= minutes)
                    out += self.publish(circle, Timer(ends_at=circle.ends_at, warning=minutes))
                    break
            for member in list(circle.members.values()):
                if (
                    member.state is MemberState.AWAY
                    and now - member.away_since >= self.config.resume_grace
                ):
                    out += self.depart(circle, member, "expire", "left", CloseCode.NORMAL)
            rnd = circle.round
            if (
                rnd
                and rnd.share_seconds
                and rnd.order
                and now - rnd.turn_started >= rnd.share_seconds
            ):
                rnd.order.pop(0)
                rnd.turn_started = now
                out += self.publish(
                    circle, self.notice(circle, "round_next", None, order=rnd.order)
                )
        return out

    def check_facilitator_presence(self, circle: Circle) -> list[Action]:
        """F6: no facilitator connected -> pause admissions, close after the grace period."""
        present = circle.facilitator_connected()
        if not present and circle.settling_until is not None:
            return []  # members of a circle just taken over are still resuming (tick decides)
        if not present and circle.state is CircleState.OPEN:
            circle.state = circle_after(circle.state, "facilitator_lost")
            circle.paused_until = self.clock() + self.config.facilitator_grace
            return self.publish(circle, self.notice(circle, "paused", None))
        if present and circle.state is CircleState.PAUSED:
            circle.state = circle_after(circle.state, "facilitator_back")
            circle.paused_until = None
            return self.publish(circle, Timer(ends_at=circle.ends_at, warning=None))
        return []

    def close_circle(self, circle: Circle, reason: str) -> list[Action]:
        """F5: tell everyone, end every connection, drop every byte of the circle's state."""
        circle.state = circle_after(circle.state, "close")
        out: list[Action] = []
        code = CloseCode.GOING_AWAY if reason == "shutdown" else CloseCode.CIRCLE_CLOSED
        for member in circle.members.values():
            if member.conn is not None:
                out += [
                    Send(member.conn, Closed(reason=reason)),
                    Close(member.conn, code, "circle closed"),
                ]
                self.detach(member.conn)
        circle.members.clear()
        circle.buffer.clear()
        circle.buffer_bytes = 0
        circle.banned_keys.clear()
        circle.banned_addresses.clear()
        circle.info = b""
        circle.secret = None
        del self.circles[circle.id]
        log.info("circle closed: %s (%d open)", reason, len(self.circles))
        return out

    def shutdown(self) -> list[Action]:
        out: list[Action] = []
        for circle in list(self.circles.values()):
            out += self.close_circle(circle, "shutdown")
        return out

    # ------------------------------------------------------------------ helpers
    def _lobby(self, conn: Conn) -> list[Action]:
        if not self.config.lobby:
            raise Rejection(ErrorCode.NOT_ALLOWED, "This server does not list circles.")
        local = (self.lobby_entry(c) for c in self.circles.values())
        entries = (*(e for e in local if e is not None), *self.remote_lobby())
        return [Send(conn.id, Lobby(circles=entries[: limits.MAX_LIST]))]

    def lobby_entry(self, c: Circle) -> LobbyEntry | None:
        """What the lobby shows of a circle (F7), or None when it is not listed right now."""
        if not c.listed or c.secret is None or c.locked or c.state is not CircleState.OPEN:
            return None
        approved = c.listing_approval
        return LobbyEntry(
            circle=c.id,
            title=c.title or "",
            ends_at=c.ends_at,
            seats=max(0, c.capacity - c.seated_count()),
            secret=c.secret,
            fingerprint=crypto.fingerprint(c.root_key),
            facilitator_key=c.root_key,
            approval=None if approved is None else Approval(key=approved[0], sig=approved[1]),
            challenge=None if approved is None else approved[2],
        )

    def next_rseq(self, circle: Circle) -> int:
        circle.rseq += 1
        return circle.rseq

    def notice(
        self,
        circle: Circle,
        action: str,
        target: int | None,
        *,
        minutes: int | None = None,
        seconds: int | None = None,
        order: list[int] | tuple[int, ...] = (),
        note: bytes | None = None,
        cert: Delegation | None = None,
        stream: bool = True,
        signed: Moderate | None = None,
        proof: bytes | None = None,
    ) -> Notice:
        """A neutral notice (F17); ``stream`` ones are numbered and kept for resuming members."""
        return Notice(
            action=action,
            target=target,
            minutes=minutes,
            seconds=seconds,
            order=tuple(order),
            note=note,
            cert=cert,
            rseq=self.next_rseq(circle) if stream else 0,
            signed=signed,
            proof=proof,
        )

    def publish(self, circle: Circle, frame: Frame) -> list[Action]:
        rseq = getattr(frame, "rseq", None)
        if isinstance(rseq, int) and rseq > 0:
            circle.keep(rseq, frame, self.config.resume_buffer_bytes)
        return [Publish(circle.id, frame)]

    def to_facilitators(self, circle: Circle, frame: Frame) -> list[Action]:
        return [Send(conn, frame) for conn in circle.connected(facilitators_only=True)]

    def sync_conn(self, member: Member) -> None:
        if member.conn is not None and member.conn in self.conns:
            self.conns[member.conn].state = member.state

    def detach(self, conn_id: int) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None:
            conn.state, conn.circle, conn.member = MemberState.GONE, None, None

    def audience(self, circle_id: bytes) -> list[int]:
        """Connections a :class:`Publish` for this circle goes to."""
        circle = self.circles.get(circle_id)
        return circle.connected() if circle else []

    def gauges(self) -> dict[str, int]:
        return {
            "circles": len(self.circles),
            "members": sum(c.seated_count() for c in self.circles.values()),
            "waiting": sum(c.waiting_count() for c in self.circles.values()),
            "connections": len(self.conns),
        }
