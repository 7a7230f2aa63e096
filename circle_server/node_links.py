"""How the nodes of a cluster reach each other's connections (F21, docs/scale-out.md).

A forwarding node sends its connections' frames to the node that owns their circle and
carries out what the owner sends back; the owner treats those connections as its own,
under registry ids of its own. Every message between two nodes is numbered, so one that
Redis pub/sub lost shows as a gap at the other end, and the members concerned resume rather
than miss anything. While Redis is unreachable, what members send waits (held.py) and goes
out in order when it is back. :class:`NodeLinks` is the half of the Redis broker that does
this; redis_broker.py owns the connection to Redis, the stored circles and the timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgpack

from circle_server.actions import CloseCode, Send
from circle_server.cluster import ATTACH, CLOSE, DETACH, FRAME, REROUTE, SEND, channel
from circle_server.held import Held
from protocol.errors import ErrorCode, RemoteProtocolError
from protocol.frames import Error, Join, OpenCircle, Resume, decode_frame

if TYPE_CHECKING:
    from circle_server.server import CircleServer

log = logging.getLogger("circle_server.redis")

HELD = (
    "This server lost touch with the rest of the circle for a moment. What you send waits "
    "here and goes out, in order, as soon as it is back: there is no need to send it again."
)


class NodeLinks:
    """Forwarding, delivering and the numbered links between nodes (see the module)."""

    if TYPE_CHECKING:
        # The broker state these read and change; RedisBroker.__init__ sets it.
        server: CircleServer
        node: str
        _ok: bool
        _queue: list[tuple[Any, ...]]
        _wake: asyncio.Event
        leaving: bool
        remote_conns: dict[int, tuple[str, int]]
        by_origin: dict[tuple[str, int], int]
        forwards: dict[int, tuple[str, bytes]]
        resuming: set[int]
        held: Held
        seq_out: defaultdict[str, int]
        seq_in: dict[str, int]

    # ------------------------------------------------------------------ replies
    def _error(self, conn: int, code: ErrorCode, message: str, ref: str | None) -> None:
        self.server.apply([Send(conn, Error(code=int(code), message=message, ref=ref))])

    # ------------------------------------------------------------------ forwarding node
    def forwarded(self, conn: int) -> bool:
        return conn in self.forwards or conn in self.resuming

    def forward(self, conn: int, data: bytes, since: float) -> None:
        if conn in self.resuming:
            return  # closing so that the member resumes; it re-sends nothing twice
        owner, _ = self.forwards[conn]
        if not self._ok:
            if self.held.hold(conn, data, since):
                self._error(conn, ErrorCode.UNAVAILABLE, HELD, None)
            return
        self._send_to(owner, FRAME, conn, data, since)

    def _release_held(self) -> None:
        """Redis is back: what waited goes to the owners, in order, before anything newer;
        connections that sent more than could be held resume instead."""
        frames, overflowed = self.held.release()
        for conn, held in frames:  # a connection that went or moved had its frames dropped
            owner, _ = self.forwards[conn]
            for data, since in held:
                self._send_to(owner, FRAME, conn, data, since)
        for conn in overflowed:
            self._make_resume(conn)

    def disconnected(self, conn: int) -> None:
        self.held.drop(conn)
        self.resuming.discard(conn)
        forward = self.forwards.pop(conn, None)
        if forward is not None:
            self._send_to(forward[0], DETACH, conn)

    # ------------------------------------------------------------------ owner
    def remote(self, conn: int) -> bool:
        return conn in self.remote_conns

    def deliver(self, conns: list[int], data: bytes, since: float | None = None) -> None:
        by_node: defaultdict[str, list[int]] = defaultdict(list)
        for conn in conns:
            node, there = self.remote_conns[conn]
            by_node[node].append(there)
        for node, there_conns in by_node.items():
            self._send_to(node, SEND, there_conns, data, since)

    def close_remote(self, conn: int, code: int, reason: str) -> None:
        node, there = self.remote_conns[conn]
        self._send_to(node, CLOSE, there, code, reason)

    # ------------------------------------------------------------------ links
    def _send_to(self, node: str, op: str, *fields: Any) -> None:
        """One message to another node. Every link is numbered, so a message pub/sub lost
        shows as a gap at the other end, which then makes the members concerned resume."""
        self.seq_out[node] += 1
        if not self._ok:
            return
        header = [op, self.node, self.seq_out[node], time.time()]
        body = msgpack.packb([*header, *fields], use_bin_type=True)
        self._queue.append(("PUBLISH", channel(node), body))
        self._wake.set()

    def _on_message(self, data: bytes) -> None:
        try:
            op, src, seq, sent, *fields = msgpack.unpackb(data, raw=False)
        except (ValueError, msgpack.UnpackException):
            log.error("unreadable message from another node")
            return
        self.server.metrics.node_link.observe(max(0.0, time.time() - sent))
        last = self.seq_in.get(src)
        self.seq_in[src] = seq
        if last is not None and seq != last + 1:
            self._lost_from(src)
        server, registry = self.server, self.server.registry
        if op == SEND:
            conns, frame, since = fields
            mine = [c for c in conns if self.forwards.get(c, ("",))[0] == src]
            server.deliver([c for c in mine if c in server.sockets], frame, since)
        elif op == REROUTE:
            conn, frame = fields
            if self.forwards.get(conn, ("",))[0] == src:
                del self.forwards[conn]
                self.held.drop(conn)  # routed afresh: nothing of it waits for that owner
                asyncio.ensure_future(server.receive(conn, frame))
        elif op == CLOSE:
            conn, code, reason = fields
            if self.forwards.get(conn, ("",))[0] == src:
                server.close(conn, code, reason)
            else:  # not forwarded to that node (any more): it may forget the connection
                self._send_to(src, DETACH, conn)
        elif op in (ATTACH, FRAME) and self.leaving:  # handed over: resume on the next owner
            self._send_to(src, CLOSE, fields[0], CloseCode.RESUME, "reconnect and resume")
        elif op == ATTACH:
            conn, challenge, address, frame = fields
            local = registry.adopt(challenge, address)
            self.remote_conns[local] = (src, conn)
            self.by_origin[(src, conn)] = local
            self._feed(local, frame, first=True)
        elif op == FRAME:
            conn, frame, since = fields
            local_id = self.by_origin.get((src, conn))
            if local_id is None:  # its attach was lost, or it moved: it resumes
                self._send_to(src, CLOSE, conn, CloseCode.RESUME, "reconnect and resume")
            else:
                self._feed(local_id, frame, since=since)
        elif op == DETACH:
            (conn,) = fields
            local_id = self.by_origin.pop((src, conn), None)
            if local_id is not None:
                self._drop_remote(local_id)

    def _feed(
        self, conn: int, data: bytes, first: bool = False, since: float | None = None
    ) -> None:
        registry = self.server.registry
        try:
            frame = decode_frame(data, self.server.config.max_frame_bytes)
        except RemoteProtocolError as exc:
            error = exc
            self.server.process(conn, lambda: registry.receive_garbage(conn, error))
            return
        state = registry.conns.get(conn)
        entry = isinstance(frame, OpenCircle | Join | Resume)
        if entry and not first and state is not None and state.circle is None:
            # Refused here before, now asking for something else (another circle, or its
            # own): its node routes it afresh.
            node, there = self.remote_conns.pop(conn)
            self.by_origin.pop((node, there), None)
            registry.disconnect(conn)
            self._send_to(node, REROUTE, there, data)
            return
        self.server.process(conn, lambda: registry.receive(conn, frame), frame.TYPE, since)

    def _drop_remote(self, conn: int) -> None:
        node, there = self.remote_conns.pop(conn)
        self.by_origin.pop((node, there), None)
        self.server.process(conn, lambda: self.server.registry.disconnect(conn))

    def _lost_from(self, node: str) -> None:
        """Messages from ``node`` were lost: its members here, and ours there, resume."""
        log.warning("messages between nodes were lost; members concerned resume")
        for conn, (owner, _) in list(self.forwards.items()):
            if owner == node:
                self._make_resume(conn)
        for origin, there in list(self.remote_conns.values()):
            if origin == node:
                self._send_to(node, CLOSE, there, CloseCode.RESUME, "reconnect and resume")

    def _deaf(self, node: str) -> None:
        """``node`` heard nothing we sent just after an outage: our members there resume, and
        its members here are forgotten (telling it would go unheard too; it sees the gap in
        our numbering once it listens, and they resume)."""
        for conn, (owner, _) in list(self.forwards.items()):
            if owner == node:
                self._make_resume(conn)
        for conn, (origin, _) in list(self.remote_conns.items()):
            if origin == node:
                self._drop_remote(conn)

    def _make_resume(self, conn: int) -> None:
        """Close a forwarded connection so its member resumes. Nothing more reaches it
        meanwhile: a later frame would move the member's resume point past lost ones."""
        forward = self.forwards.pop(conn, None)
        if forward is None:
            return
        self.held.drop(conn)
        self.resuming.add(conn)
        self._send_to(forward[0], DETACH, conn)
        self.server.close(conn, CloseCode.RESUME, "reconnect and resume")

    def _node_died(self, node: str) -> None:
        log.warning("a node stopped answering; its members resume elsewhere")
        self._lost_from(node)
        for conn, (origin, _) in list(self.remote_conns.items()):
            if origin == node:
                self._drop_remote(conn)
        self.seq_in.pop(node, None)
        self.seq_out.pop(node, None)
