"""What this node's members send while Redis is unreachable: held, in order, until it is back.

A member whose circle is owned by another node reaches it only through Redis. During an
outage its frames cannot be forwarded; refusing them would make the member (or the person)
send them again later, after newer ones, so the others would see them out of order and a
false gap in between (PROTOCOL.md 5.5). Instead they wait here, in the order they came, and
go to the owner, still in order, the moment Redis is back, before anything the member sends
next. The member is told once that its frames are waiting.

Holding is bounded per connection and for the whole node. A connection that sends more than
its share has its held frames dropped and resumes once Redis is back: its client then sends
again what was never relayed back to it, in order (PROTOCOL.md 3.2, `resume`), so nothing
it wrote is shown twice or out of order. Held frames are ciphertext, kept in memory only, and
forgotten when the connection goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PER_CONNECTION_BYTES = 256 * 1024
"""A member writing for a minute at its rate limit stays well below this."""
TOTAL_BYTES = 32 * 1024 * 1024
"""All held frames on one node; beyond it, connections resume instead of holding."""


@dataclass(slots=True)
class Held:
    per_connection: int = PER_CONNECTION_BYTES
    total: int = TOTAL_BYTES
    frames: dict[int, list[tuple[bytes, float]]] = field(default_factory=dict)
    """Per connection: each frame and when it reached this node."""
    sizes: dict[int, int] = field(default_factory=dict)
    overflowed: set[int] = field(default_factory=set)
    """Connections whose frames no longer fit: they resume when Redis is back."""
    held_bytes: int = 0

    def hold(self, conn: int, data: bytes, since: float) -> bool:
        """Keep ``data``, which reached this node at ``since``, for ``conn``. True the first
        time this connection has to wait (so it can be told), False after, and False when it
        no longer fits (the connection resumes instead: there is nothing to wait for)."""
        if conn in self.overflowed:
            return False
        first = conn not in self.frames
        size = self.sizes.get(conn, 0) + len(data)
        if size > self.per_connection or self.held_bytes + len(data) > self.total:
            self.drop(conn)
            self.overflowed.add(conn)
            return False
        self.frames.setdefault(conn, []).append((data, since))
        self.sizes[conn] = size
        self.held_bytes += len(data)
        return first

    def drop(self, conn: int) -> None:
        """Forget ``conn``'s held frames (it went, or they no longer fit)."""
        self.frames.pop(conn, None)
        self.held_bytes -= self.sizes.pop(conn, 0)
        self.overflowed.discard(conn)

    def release(self) -> tuple[list[tuple[int, list[tuple[bytes, float]]]], set[int]]:
        """Everything held, in order per connection, and the connections that overflowed;
        holding starts empty again."""
        frames, overflowed = list(self.frames.items()), self.overflowed
        self.frames, self.sizes, self.overflowed, self.held_bytes = {}, {}, set(), 0
        return frames, overflowed
