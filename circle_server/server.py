"""The asyncio shell: websockets in, registry actions out. It moves bytes and time, nothing else.

One task per connection feeds decoded frames to the :class:`~circle_server.registry.Registry`
and carries out its actions with ``websockets.broadcast`` (encode once, never block on a slow
reader). ``/healthz`` and ``/metrics`` are answered on the same port before the upgrade.
Nothing here logs addresses, handles or content, and nothing touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl
import time
import traceback
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from circle_server.actions import Action, Close, CloseCode, Publish, Send
from circle_server.broker import MemoryBroker
from circle_server.config import ServerConfig
from circle_server.metrics import Metrics
from circle_server.registry import Registry
from protocol.errors import RemoteProtocolError
from protocol.frames import (
    MESSAGE_FRAMES,
    Join,
    LobbyRequest,
    OpenCircle,
    Resume,
    decode_frame,
    encode_frame,
)

log = logging.getLogger("circle_server")
TICK_SECONDS = 0.5


class CircleServer:
    """One circle-server process: ``await start()``, then ``await serve_forever()``."""

    def __init__(
        self,
        config: ServerConfig,
        clock: Callable[[], float] = time.time,
        broker: MemoryBroker | None = None,
    ) -> None:
        self.config = config
        self.registry = Registry(config, clock)
        self.broker = broker or MemoryBroker()
        self.broker.bind(self)
        self.metrics = Metrics(self.registry)
        self.sockets: dict[int, ServerConnection] = {}
        self.per_address: Counter[bytes] = Counter()
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closing = False

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self) -> None:
        await self.broker.start()
        c = self.config
        tls = None
        if c.tls_cert and c.tls_key:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(c.tls_cert, c.tls_key)
        quiet = logging.getLogger("circle_server.websockets")
        quiet.setLevel(logging.CRITICAL)  # websockets' own logs can carry peer addresses
        self._server = await serve(
            self._handle,
            c.host,
            c.port,
            origins=[None, *c.allowed_origins],  # type: ignore[list-item]
            compression=None,
            process_request=self._process_request,
            server_header=None,
            open_timeout=c.handshake_timeout,
            ping_interval=c.idle_timeout / 2,
            ping_timeout=c.idle_timeout / 2,
            close_timeout=2,
            max_size=c.max_frame_bytes,
            ssl=tls,
            logger=quiet,
        )
        self._ticker = asyncio.create_task(self._tick_forever())
        gc.freeze()  # start-up objects never need scanning again: shorter collection pauses

    async def serve_forever(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        """Graceful shutdown within seconds. Alone, the node closes its circles and tells every
        member; in a cluster, it hands its circles over and its members resume elsewhere."""
        if self._stopping.is_set() or self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close(close_connections=False)  # no new connections from here on
        if self._ticker:
            self._ticker.cancel()
        if await self.broker.hand_over():
            # Another node takes the circles over: members reconnect there and resume.
            code, reason = CloseCode.RESUME, "node restarting: reconnect and resume"
        else:
            self.apply(self.registry.shutdown())
            code, reason = CloseCode.GOING_AWAY, "server shutting down"
        for conn_id in list(self.sockets):
            self.close(conn_id, code, reason)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
        await self.broker.stop()
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))

    # ------------------------------------------------------------------ HTTP
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            ok = self.broker.healthy()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return connection.respond(status, "ok\n" if ok else "unhealthy\n")
        if path == "/metrics":
            body = self.metrics.render()
            headers = Headers([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return Response(200, "OK", headers, body)
        return None

    # ------------------------------------------------------------------ websockets
    async def _handle(self, ws: ServerConnection) -> None:
        address = self.registry.address_key(str(ws.remote_address[0]) if ws.remote_address else "")
        if (
            self.per_address[address] >= self.config.max_connections_per_ip
            or len(self.sockets) >= self.config.max_connections
        ):
            self.metrics.closed_by_server(CloseCode.TOO_MANY_CONNECTIONS)
            await ws.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
            return
        self.per_address[address] += 1
        conn_id, actions = self.registry.connect(
            str(ws.remote_address[0]) if ws.remote_address else ""
        )
        self.sockets[conn_id] = ws
        try:
            self.apply(actions)
            await self._serve_connection(conn_id, ws)
        except ConnectionClosed:
            pass
        except Exception as exc:  # a bug: log where, never the message or any data
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"  # a place, no text
            log.error("connection handler failed: %s at %s", type(exc).__name__, where)
            await ws.close(CloseCode.INTERNAL, "internal error")
        finally:
            sent = ws.protocol.close_sent  # hello timeout, oversized frame (websockets' 1009)
            if sent is not None and ws.protocol.close_rcvd_then_sent is not True:  # we closed first
                self.metrics.closed_by_server(sent.code)
            self.sockets.pop(conn_id, None)
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]
            self.broker.disconnected(conn_id)
            self.process(conn_id, lambda: self.registry.disconnect(conn_id))

    async def _serve_connection(self, conn_id: int, ws: ServerConnection) -> None:
        try:
            first = await asyncio.wait_for(ws.recv(), self.config.handshake_timeout)
        except TimeoutError:
            await ws.close(CloseCode.TIMEOUT, "no hello in time")
            return
        await self.receive(conn_id, first)
        async for message in ws:
            await self.receive(conn_id, message)

    async def receive(self, conn_id: int, message: str | bytes) -> None:
        """One websocket message from a local connection (or handed back by another node)."""
        if self._closing:
            return  # stopping: every connection is being closed (and, in a cluster, moved)
        if isinstance(message, str):
            error = RemoteProtocolError("frames are binary msgpack, not text")
            self.apply(self.registry.receive_garbage(conn_id, error))
            return
        if self.broker.forwarded(conn_id):
            self.broker.forward(conn_id, message)
            return
        try:
            frame = decode_frame(message, self.config.max_frame_bytes)
        except RemoteProtocolError as exc:
            self.apply(self.registry.receive_garbage(conn_id, exc))
            return
        if isinstance(frame, OpenCircle | Join | Resume | LobbyRequest) and await self.broker.route(
            conn_id, frame, message
        ):
            return
        self.process(conn_id, lambda: self.registry.receive(conn_id, frame), frame.TYPE)

    def process(
        self, conn_id: int, step: Callable[[], list[Action]], kind: str | None = None
    ) -> None:
        """Run one registry step for a connection and carry out its actions; tell the broker
        which circle it touched (before and after: a join enters one, a close leaves one).
        Messages change nothing a new owner would need but the resume buffer, which the
        broker keeps as frames are published."""
        conn = self.registry.conns.get(conn_id)
        before = conn.circle if conn is not None else None
        self.apply(step())
        if kind in MESSAGE_FRAMES:
            return
        after = conn.circle if conn is not None else None
        for circle in {before, after}:
            if circle is not None:
                self.broker.touched(circle)

    # ------------------------------------------------------------------ actions
    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                ws = self.sockets.get(action.conn)
                if ws is not None:
                    broadcast([ws], encode_frame(action.frame))
                    self.registry.stats.frames_out += 1
                elif self.broker.remote(action.conn):
                    self.broker.deliver([action.conn], encode_frame(action.frame))
            elif isinstance(action, Publish):
                data = encode_frame(action.frame)
                rseq = getattr(action.frame, "rseq", 0)
                if isinstance(rseq, int) and rseq > 0:
                    self.broker.published(action.circle, rseq, data)
                self.deliver(self.registry.audience(action.circle), data)
            elif isinstance(action, Close):
                if action.conn in self.sockets:
                    self.close(action.conn, action.code, action.reason)
                elif self.broker.remote(action.conn):
                    self.broker.close_remote(action.conn, action.code, action.reason)

    def deliver(self, conns: list[int], data: bytes) -> None:
        """One encoded frame to connections here (``websockets.broadcast``: never waits on a
        slow reader) and, through the broker, to those on other nodes."""
        targets, remote = [], []
        for conn in conns:
            ws = self.sockets.get(conn)
            if ws is not None:
                targets.append(ws)
            elif self.broker.remote(conn):
                remote.append(conn)
        if targets:
            broadcast(targets, data)
            self.registry.stats.frames_out += len(targets)
        if remote:
            self.broker.deliver(remote, data)

    def close(self, conn_id: int, code: int, reason: str) -> None:
        ws = self.sockets.get(conn_id)
        if ws is not None:
            asyncio.ensure_future(ws.close(code, reason))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                before = set(self.registry.circles)
                actions = self.registry.tick()
                self.apply(actions)
                changed = {a.circle for a in actions if isinstance(a, Publish)}
                for circle in changed | (before - set(self.registry.circles)):
                    self.broker.touched(circle)
            except Exception as exc:
                log.error("timer tick failed: %s", type(exc).__name__)
