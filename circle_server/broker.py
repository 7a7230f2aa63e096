"""Where circles live and how frames reach connections: the broker interface (F21).

The asyncio shell (server.py) asks its broker four things: may this connection's entry frame
(open, join, resume) be handled here, or does it belong to a circle another node holds; which
connections are held by another node; how to deliver frames and closes to those; and what to
keep when a circle changes. :class:`MemoryBroker`, the default, answers for one process: every
circle is here, nothing is remote, nothing is kept outside memory. The Redis broker
(redis_broker.py) answers for several nodes behind one address (docs/scale-out.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.frames import Frame

if TYPE_CHECKING:
    from circle_server.server import CircleServer


class MemoryBroker:
    """One process, everything in memory: the default; needs nothing else running."""

    name = "memory"

    def bind(self, server: CircleServer) -> None:
        self.server = server

    async def start(self) -> None:
        """Connect to whatever the broker needs; raise ``OSError`` if it cannot."""

    async def stop(self) -> None:
        """Hand nothing over: circles end with the process (the shell has closed them)."""

    def healthy(self) -> bool:
        return True

    async def hand_over(self) -> bool:
        """The node is stopping: return True if other nodes take its circles over (then the
        shell asks its members to reconnect and resume), False if its circles end with it."""
        return False

    async def route(self, conn: int, frame: Frame, data: bytes) -> bool:
        """An entry frame (open, join, resume, lobby) from a local connection: return True if
        the broker took care of it (another node's circle, or a refusal); False to let the
        local registry handle it."""
        return False

    def forwarded(self, conn: int) -> bool:
        """Whether this local connection's frames go to another node's circle."""
        return False

    def forward(self, conn: int, data: bytes, since: float) -> None:
        """Send a local connection's frame, which reached this node at ``since``, to the
        node running its circle."""
        raise AssertionError("nothing is forwarded in one process")

    def remote(self, conn: int) -> bool:
        """Whether a registry connection id stands for a connection on another node."""
        return False

    def deliver(self, conns: list[int], data: bytes, since: float | None = None) -> None:
        """Write a frame to connections on other nodes; ``since``: when the message it
        carries reached the server, if it is one."""
        raise AssertionError("nothing is remote in one process")

    def close_remote(self, conn: int, code: int, reason: str) -> None:
        raise AssertionError("nothing is remote in one process")

    def published(self, circle: bytes, rseq: int, data: bytes) -> None:
        """A numbered frame went to a circle: keep it for members resuming elsewhere."""

    def touched(self, circle: bytes) -> None:
        """A circle's state may have changed (or it closed)."""

    def disconnected(self, conn: int) -> None:
        """A local connection ended."""
