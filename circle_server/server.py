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
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from circle_server.actions import Action, Close, CloseCode, Publish, Send
from circle_server.broker import MemoryBroker
from circle_server.config import ServerConfig, split_host_port
from circle_server.gate import BACKLOG, BAD_REQUEST, Answer, CircleConnection, Gate, fd_budget
from circle_server.metrics import METRICS_TYPE, Metrics
from circle_server.proxy import TrustedProxies, client_address, forwarded_chain, normalise
from circle_server.registry import Registry
from protocol.errors import RemoteProtocolError
from protocol.frames import (
    MESSAGE_FRAMES,
    Join,
    LobbyRequest,
    Notice,
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
        self.sockets: dict[int, ServerConnection] = {}
        self.frame_types: Counter[str] = Counter()
        """Frames handled here by type; synced into the metrics when they are scraped."""
        self.metrics = Metrics(
            self.registry, lambda: len(self.sockets), self.frame_types, self.broker.healthy
        )
        self.per_address: Counter[bytes] = Counter()
        self.trusted = TrustedProxies(config.trusted_proxies)
        self._doomed: dict[int, asyncio.Future[None]] = {}
        """Connections the server decided to close: nothing more is read from them."""
        self.gate = Gate(
            trusted=self.trusted,
            websocket_path=config.websocket_path,
            max_handshakes=config.max_handshakes,
            max_handshakes_per_ip=config.max_handshakes_per_ip,
            fd_budget=fd_budget(),
            answer=self.answer,
            hash_address=self.registry.address_key,
            refused=self.metrics.refused,
        )
        self._server: Server | None = None
        self._metrics_server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closing = False
        self._draining = False

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
            create_connection=self.gate.connection_class(),
            write_limit=c.send_buffer_bytes,
            backlog=BACKLOG,
            server_header=None,
            open_timeout=c.handshake_timeout,
            ping_interval=c.idle_timeout / 2,
            ping_timeout=c.idle_timeout / 2,
            close_timeout=2,
            max_size=c.max_frame_bytes,
            ssl=tls,
            logger=quiet,
        )
        if c.metrics_listen:
            host, port = split_host_port(c.metrics_listen) or ("127.0.0.1", 0)
            self._metrics_server = await asyncio.start_server(self._serve_private, host, port)
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
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
        if self._metrics_server is not None:
            self._metrics_server.close()
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

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own errors. ``accept()`` failing for want of descriptors would otherwise
        log a traceback every second (or in a tight loop): one plain line every ten seconds."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            exc = context.get("exception")
            self.gate.complain(
                "accept",
                "cannot accept connections (%s); raise LimitNOFILE or lower max_connections",
                getattr(exc, "strerror", None) or type(exc).__name__,
            )
            return
        loop.default_exception_handler(context)

    async def drain(self) -> None:
        """SIGTERM or SIGUSR1 with ``drain_seconds`` set: fail /healthz at once (balancers stop
        sending newcomers), tell every member here "this server restarts in N s", wait, then
        :meth:`stop`. A second signal while draining stops at once."""
        if self._draining or self._closing:
            await self.stop()
            return
        seconds = self.config.drain_seconds
        self._draining = True
        if seconds > 0:
            log.info("draining: stopping in %d s", seconds)
            notice = Notice(
                action="restart", target=None, minutes=None, seconds=seconds, order=(),
                note=None, cert=None, rseq=0,
            )  # fmt: skip
            here = [
                conn
                for conn in self.sockets
                if self.broker.forwarded(conn)
                or getattr(self.registry.conns.get(conn), "circle", None) is not None
            ]
            self.deliver(here, encode_frame(notice))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        await self.stop()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.stop()))

    # ------------------------------------------------------------------ HTTP
    def answer(self, method: str, path: str, private: bool = False) -> Answer:
        """The response to every plain HTTP request (anything but the websocket upgrade):
        ``/healthz`` and ``/metrics`` for GET and HEAD, 405 for other methods, 404 elsewhere.
        With ``metrics_listen`` set, /metrics is served only there (``private``)."""
        metrics = private or not self.config.metrics_listen
        if path == "/healthz" or (path == "/metrics" and metrics):
            if method not in ("GET", "HEAD"):
                return Answer(
                    405, "Method Not Allowed", b"use GET\n", extra=(("Allow", "GET, HEAD"),)
                )
            if path == "/metrics":
                return Answer(200, "OK", self.metrics.render(), METRICS_TYPE)
            if self.broker.healthy() and not (self._closing or self._draining):
                return Answer(200, "OK", b"ok\n")
            return Answer(503, "Service Unavailable", b"unhealthy\n")
        if path == self.config.websocket_path and not private:
            return Answer(
                405,
                "Method Not Allowed",
                b"websocket only: use GET with Upgrade\n",
                extra=(("Allow", "GET"),),
            )
        return Answer(404, "Not Found", b"not found\n")

    @property
    def metrics_port(self) -> int:
        assert self._metrics_server is not None
        port: int = self._metrics_server.sockets[0].getsockname()[1]
        return port

    async def _serve_private(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One request on ``metrics_listen``: /metrics and /healthz, then close."""
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            if len(parts) != 3:
                answer = BAD_REQUEST
                method = "GET"
            else:
                method = parts[0].decode("latin-1")
                path = parts[1].decode("latin-1").split("?", 1)[0]
                answer = self.answer(method, path, private=True)
            writer.write(answer.encode(head_only=method == "HEAD"))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()

    def client_address(self, ws: ServerConnection) -> str:
        """The client's address: the socket's, or, from a trusted proxy, the one its PROXY
        header or forwarding header gives (circle_server/proxy.py). Hashed by the registry."""
        peer = str(ws.remote_address[0]) if ws.remote_address else ""
        if not self.trusted.trusts(peer):
            return normalise(peer)
        header = self.config.forwarded_header.lower()
        chain: list[str] = []
        if header != "none" and ws.request is not None:
            chain = forwarded_chain(header, ws.request.headers.get_all(header))
        proxied = getattr(ws, "proxied", None)
        if proxied:
            chain.append(proxied)
        return client_address(peer, chain, self.trusted)

    # ------------------------------------------------------------------ websockets
    async def _handle(self, ws: ServerConnection) -> None:
        if isinstance(ws, CircleConnection):
            ws.handshake_done()
        client = self.client_address(ws)
        address = self.registry.address_key(client)
        if (
            self.per_address[address] >= self.config.max_connections_per_ip
            or len(self.sockets) >= self.config.max_connections
        ):
            self.metrics.closed_by_server(CloseCode.TOO_MANY_CONNECTIONS)
            await ws.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
            return
        self.per_address[address] += 1
        conn_id, actions = self.registry.connect(client)
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
            ours = sent is not None and ws.protocol.close_rcvd_then_sent is not True
            if ours and sent is not None:  # we closed first
                self.metrics.closed_by_server(sent.code)
            self.metrics.ended(
                sent.code if ours and sent else None, ws.protocol.close_rcvd is not None
            )
            self.sockets.pop(conn_id, None)
            self._doomed.pop(conn_id, None)
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
            closing = self._doomed.get(conn_id)
            if closing is not None:  # pipelined frames behind the decision are not read
                await closing
                return
            if getattr(ws, "dropped", False):
                return  # it stopped reading and was dropped (gate.py): its frames go unread
            await self.receive(conn_id, message)

    async def receive(self, conn_id: int, message: str | bytes) -> None:
        """One websocket message from a local connection (or handed back by another node)."""
        if self._closing or conn_id in self._doomed:
            return  # stopping, or this connection is being closed: nothing more from it
        arrived = time.time()
        if isinstance(message, str):
            error = RemoteProtocolError("frames are binary msgpack, not text")
            self.apply(self.registry.receive_garbage(conn_id, error))
            return
        if self.broker.forwarded(conn_id):
            self.broker.forward(conn_id, message, arrived)
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
        self.process(conn_id, lambda: self.registry.receive(conn_id, frame), frame.TYPE, arrived)

    def process(
        self,
        conn_id: int,
        step: Callable[[], list[Action]],
        kind: str | None = None,
        since: float | None = None,
    ) -> None:
        """Run one registry step for a connection and carry out its actions; tell the broker
        which circle it touched (before and after: a join enters one, a close leaves one).
        Messages change nothing a new owner would need but the resume buffer, which the
        broker keeps as frames are published. ``since``: when the frame reached the server
        (on this node or the one that forwarded it), for the delivery-latency histogram."""
        conn = self.registry.conns.get(conn_id)
        before = conn.circle if conn is not None else None
        if kind is None:
            self.apply(step())
        else:
            started = time.perf_counter()
            self.apply(step(), since if kind in MESSAGE_FRAMES else None)  # messages are timed
            self.metrics.frame_seconds.observe(time.perf_counter() - started)
            self.frame_types[kind] += 1
            if kind in MESSAGE_FRAMES:
                return
        after = conn.circle if conn is not None else None
        for circle in {before, after}:
            if circle is not None:
                self.broker.touched(circle)

    # ------------------------------------------------------------------ actions
    def apply(self, actions: list[Action], since: float | None = None) -> None:
        """Carry out a registry step's actions; ``since``: when the message they publish
        reached the server, for the delivery-latency histogram."""
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
                self.deliver(self.registry.audience(action.circle), data, since)
            elif isinstance(action, Close):
                if action.conn in self.sockets:
                    self.close(action.conn, action.code, action.reason)
                elif self.broker.remote(action.conn):
                    self.broker.close_remote(action.conn, action.code, action.reason)

    def deliver(self, conns: list[int], data: bytes, since: float | None = None) -> None:
        """One encoded frame to connections here (``websockets.broadcast``: never waits on a
        slow reader) and, through the broker, to those on other nodes. ``since``: when the
        message it carries reached the server, if it is one."""
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
            if since is not None:
                self.metrics.delivery.observe(max(0.0, time.time() - since))
        if remote:
            self.broker.deliver(remote, data, since)

    def close(self, conn_id: int, code: int, reason: str) -> None:
        """Close a local connection once: later frames from it are ignored, and a second
        decision to close it schedules nothing more."""
        ws = self.sockets.get(conn_id)
        if ws is not None and conn_id not in self._doomed:
            self._doomed[conn_id] = asyncio.ensure_future(ws.close(code, reason))

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - due))
            try:
                before = set(self.registry.circles)
                actions = self.registry.tick()
                self.apply(actions)
                changed = {a.circle for a in actions if isinstance(a, Publish)}
                for circle in changed | (before - set(self.registry.circles)):
                    self.broker.touched(circle)
            except Exception as exc:
                log.error("timer tick failed: %s", type(exc).__name__)
