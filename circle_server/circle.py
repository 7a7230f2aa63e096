"""The server's view of one circle and its members: plain state, no I/O, no frames sent.

The registry (registry.py) owns the rules; this module holds the data they act on and the
small questions about it (who is connected, who may moderate, whose turn it is).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from protocol.frames import Frame, encode_frame
from protocol.states import CircleState, MemberState

FACILITATOR_ROLES = frozenset({"facilitator", "co"})
FRAME_OVERHEAD = 160
"""Bytes a relayed frame holds besides its ciphertext (nonce, signature, ids, msgpack)."""


def frame_size(frame: Frame) -> int:
    """About what a buffered frame costs in memory, for the resume buffer's byte cap."""
    env = getattr(frame, "env", None)
    ct = getattr(env, "ct", None)
    if isinstance(ct, bytes):
        return len(ct) + FRAME_OVERHEAD
    return len(encode_frame(frame))


WARNING_MINUTES = (10, 5, 1)


@dataclass(slots=True, weakref_slot=True)
class Member:
    """A seat in a circle. The server knows only opaque ids and per-circle public keys."""

    id: int
    sign_key: bytes
    box_key: bytes
    address: bytes  # keyed hash of the client address; memory only, never logged
    state: MemberState
    role: str = "member"
    conn: int | None = None
    knock: bytes | None = None
    knock_key: tuple[int, bytes, bytes] = (0, b"", b"")
    """The epoch key (id, X25519, ML-KEM) the last knock announced; public, relayed as is."""
    key_epoch: int = 0
    """The id of the newest key update relayed for this member (at most one per epoch)."""
    muted_until: float = 0.0
    last_post: float = -1e18
    away_since: float = 0.0
    concerns: deque[float] = field(default_factory=lambda: deque(maxlen=8))
    checked_out: bool = False

    @property
    def is_facilitator(self) -> bool:
        return self.role in FACILITATOR_ROLES

    @property
    def seated(self) -> bool:
        return self.state in (MemberState.ADMITTED, MemberState.AWAY)


@dataclass(slots=True)
class Round:
    """A go-around (F9): the remaining speaking order; the first is speaking."""

    order: list[int]
    share_seconds: int | None
    turn_started: float

    @property
    def speaker(self) -> int | None:
        return self.order[0] if self.order else None


@dataclass(slots=True, weakref_slot=True)
class Circle:
    id: bytes
    root_key: bytes
    verifier: bytes
    info: bytes
    opened_at: float
    ends_at: float
    capacity: int
    auto_admit: bool
    listed: bool
    title: str | None
    secret: bytes | None
    state: CircleState = CircleState.OPEN
    locked: bool = False
    slow_seconds: int = 0
    members: dict[int, Member] = field(default_factory=dict)
    next_member: int = 1
    banned_keys: set[bytes] = field(default_factory=set)
    banned_addresses: set[bytes] = field(default_factory=set)
    moderation_seq: dict[bytes, int] = field(default_factory=dict)
    warnings_sent: set[int] = field(default_factory=set)
    round: Round | None = None
    rseq: int = 0
    epoch: int = 0
    """The newest epoch a rekey named (public): key updates are for the one after it."""
    buffer: deque[tuple[int, Frame]] = field(default_factory=lambda: deque(maxlen=512))
    buffer_bytes: int = 0
    paused_until: float | None = None
    settling_until: float | None = None
    """Taken over from a node that died: until then its members are still resuming here, so a
    facilitator not back yet is not yet missing (no "paused" notice that is stale a second
    later)."""
    phase: str | None = None  # the agenda phase shown with the clock (F4)
    listing_approval: tuple[bytes, bytes, bytes] | None = None
    """(long-term key, signature, challenge): a host-approved key vouching for a listed
    circle's facilitator, shown in the lobby so clients that pin the key can check it."""

    def keep(self, rseq: int, frame: Frame, max_bytes: int) -> None:
        """Add a numbered frame to the resume buffer, bounded in frames (the deque's maxlen)
        and in bytes: the oldest go first; the newest frame always stays."""
        buffer = self.buffer
        if buffer.maxlen is not None and len(buffer) == buffer.maxlen and buffer:
            self.buffer_bytes -= frame_size(buffer[0][1])  # the append drops it
        buffer.append((rseq, frame))
        self.buffer_bytes += frame_size(frame)
        while self.buffer_bytes > max_bytes and len(buffer) > 1:
            self.buffer_bytes -= frame_size(buffer.popleft()[1])

    def new_member_id(self) -> int:
        member = self.next_member
        self.next_member += 1
        return member

    def seated_count(self) -> int:
        return sum(1 for m in self.members.values() if m.seated)

    def waiting_count(self) -> int:
        return sum(
            1 for m in self.members.values() if m.state in (MemberState.PROVED, MemberState.WAITING)
        )

    def connected(self, *, facilitators_only: bool = False) -> list[int]:
        """Connection ids of admitted members who are connected right now."""
        return [
            m.conn
            for m in self.members.values()
            if m.conn is not None
            and m.state is MemberState.ADMITTED
            and (m.is_facilitator or not facilitators_only)
        ]

    def facilitator_connected(self) -> bool:
        return bool(self.connected(facilitators_only=True))

    def moderator_by_key(self, key: bytes) -> Member | None:
        for member in self.members.values():
            if member.sign_key == key and member.is_facilitator and member.seated:
                return member
        return None

    def ids_seated(self) -> set[int]:
        return {m.id for m in self.members.values() if m.seated}
