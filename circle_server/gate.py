"""The door of the server: everything that happens to a connection before it is a websocket.

:class:`CircleConnection` is websockets' asyncio connection with a gate in front of its
``data_received``. In order, for each new TCP (or TLS) connection it:

1. refuses it with a plain ``503`` when the process is near its file-descriptor limit or too
   many connections are still in the handshake (in total, or from one address);
2. reads a PROXY v1/v2 header when the peer is a trusted proxy (HAProxy ``send-proxy-v2``);
3. reads the HTTP request line: only ``GET`` on ``websocket_path`` goes on to websockets'
   handshake; every other request (``/healthz``, ``/metrics``, ``HEAD``, unknown paths, other
   methods) is answered here with a complete response (Content-Length, no body for ``HEAD``)
   and the connection is closed.

Once open, a member whose unsent bytes pass ``send_buffer_bytes`` (they stopped reading) is
dropped at once, so one stalled reader cannot pin memory or slow anyone else.
Nothing here logs an address; addresses are hashed the moment they are known.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from websockets.asyncio.server import ServerConnection

from circle_server.proxy import (
    NOT_PROXY,
    V2_MAX_BYTES,
    ProxyHeaderError,
    TrustedProxies,
    parse_proxy_header,
)

log = logging.getLogger("circle_server")

MAX_REQUEST_BYTES = 16 * 1024
"""A plain HTTP request (line and headers) larger than this is refused with 431."""
LOG_EVERY_SECONDS = 10.0
BACKLOG = 100
"""Listen backlog; asyncio may accept this many connections before any of them is seen, so
they are part of the file descriptors kept in reserve."""
FD_RESERVE = BACKLOG + 40  # + listening sockets, Redis, the metrics port, logging
FD_CEILING = 1 << 20  # what to aim for when the hard limit is "unlimited"


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (1,048,576 if unlimited); return the
    limits before and after. Distributions start services at 1,024, far below what
    ``max_connections`` allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, target


def fd_budget() -> int:
    """Connections this process may hold open before refusing new ones: the soft limit minus
    a reserve, so ``accept()`` itself never fails for want of a descriptor."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return FD_CEILING
    return max(1, soft - FD_RESERVE)


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete plain-HTTP response; ``body`` is left out for HEAD."""

    status: int
    reason: str
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    extra: tuple[tuple[str, str], ...] = ()

    def encode(self, head_only: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.extra),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


BUSY = Answer(
    503, "Service Unavailable", b"busy: try again in a moment\n", extra=(("Retry-After", "5"),)
)
BAD_PROXY_HEADER = Answer(400, "Bad Request", b"bad PROXY protocol header\n")
BAD_REQUEST = Answer(400, "Bad Request", b"bad request\n")
TOO_LARGE = Answer(431, "Request Header Fields Too Large", b"request too large\n")


@dataclass
class Gate:
    """Counts shared by every connection of one server, and the answers it gives."""

    trusted: TrustedProxies
    websocket_path: str
    max_handshakes: int
    max_handshakes_per_ip: int
    fd_budget: int
    """Open connections allowed before new ones are refused (the fd limit minus a reserve)."""
    answer: Callable[[str, str], Answer]
    """``answer(method, path)`` for every request that is not a websocket upgrade."""
    hash_address: Callable[[str], bytes]
    refused: Callable[[str], None]
    """Called with a reason (``fd_limit``, ``handshakes``, ``slow_reader``) for the metrics."""
    open: int = 0
    handshaking: int = 0
    handshaking_from: Counter[bytes] = field(default_factory=Counter)
    _last_log: dict[str, float] = field(default_factory=dict)

    def complain(self, reason: str, text: str, *args: object) -> None:
        """Log ``text`` at most once every ten seconds per reason: a flood of refusals must
        not become a flood of log lines."""
        now = time.monotonic()
        if now - self._last_log.get(reason, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self._last_log[reason] = now
            log.warning(text, *args)

    def connection_class(self) -> type[ServerConnection]:
        """A :class:`CircleConnection` subclass bound to this gate, for ``serve()``."""
        return type("BoundCircleConnection", (CircleConnection,), {"gate": self})


class CircleConnection(ServerConnection):
    """websockets' server connection behind :class:`Gate` (see the module docstring)."""

    gate: ClassVar[Gate]
    proxied: str | None = None
    """The client address a trusted proxy gave in a PROXY header (None: none was given)."""

    dropped: bool = False
    """Set when the peer stopped reading and was dropped; the server reads nothing more."""
    _buffer: bytes = b""
    _stage: str = "proxy"  # proxy -> request -> websocket | done
    _counted: bytes | None = None  # address hash counted in gate.handshaking_from
    _in_handshake: bool = False
    _open: bool = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        gate = self.gate
        gate.open += 1
        self._open = True
        if gate.open > gate.fd_budget:
            gate.complain(
                "fd_limit",
                "refusing new connections: %d open, near the file descriptor limit; raise "
                "LimitNOFILE (ulimit -n) or lower max_connections",
                gate.open,
            )
            self._refuse("fd_limit", BUSY)
            return
        if gate.handshaking >= gate.max_handshakes:
            gate.complain(
                "handshakes",
                "refusing new connections: %d still in the handshake (max_handshakes)",
                gate.handshaking,
            )
            self._refuse("handshakes", BUSY)
            return
        gate.handshaking += 1
        self._in_handshake = True
        peer = transport.get_extra_info("peername")
        peer_host = str(peer[0]) if peer else ""
        if not gate.trusted.trusts(peer_host):
            self._stage = "request"
            self._count_address(peer_host)

    def _count_address(self, address: str) -> None:
        """Count a handshake against its (hashed) address; refuse it above the per-address cap."""
        if self._stage == "done":
            return
        key = self.gate.hash_address(address)
        if self.gate.handshaking_from[key] >= self.gate.max_handshakes_per_ip:
            self.gate.complain(
                "handshakes_per_ip",
                "refusing a connection: one address has %d still in the handshake "
                "(max_handshakes_per_ip)",
                self.gate.handshaking_from[key],
            )
            self._refuse("handshakes", BUSY)
            return
        self.gate.handshaking_from[key] += 1
        self._counted = key

    def handshake_done(self) -> None:
        """The websocket is open (or the connection is gone): it no longer counts as one
        still in the handshake."""
        if not self._in_handshake:
            return
        self._in_handshake = False
        gate = self.gate
        gate.handshaking -= 1
        if self._counted is not None:
            gate.handshaking_from[self._counted] -= 1
            if gate.handshaking_from[self._counted] <= 0:
                del gate.handshaking_from[self._counted]
            self._counted = None

    def data_received(self, data: bytes) -> None:
        if self._stage == "websocket":
            super().data_received(data)
            return
        if self._stage == "done":
            return
        self._buffer += data
        if self._stage == "proxy":
            try:
                header = parse_proxy_header(self._buffer)
            except ProxyHeaderError:
                self._refuse("bad_request", BAD_PROXY_HEADER)
                return
            if header is None:
                if len(self._buffer) > V2_MAX_BYTES:
                    self._refuse("bad_request", BAD_PROXY_HEADER)
                return
            self._stage = "request"
            if header is not NOT_PROXY:
                self._buffer = self._buffer[header.length :]
                self.proxied = header.client
            peer = self.transport.get_extra_info("peername")
            self._count_address(header.client or (str(peer[0]) if peer else ""))
            if self._stage == "done":
                return
        self._route()

    def _route(self) -> None:
        """Decide from the request line whether websockets gets this connection."""
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_REQUEST_BYTES:
                self._refuse("bad_request", TOO_LARGE)
            return
        parts = self._buffer[:end].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._refuse("bad_request", BAD_REQUEST)
            return
        method = parts[0].decode("latin-1")
        path = parts[1].decode("latin-1").split("?", 1)[0]
        if method == "GET" and path == self.gate.websocket_path:
            self._stage = "websocket"
            data, self._buffer = self._buffer, b""
            super().data_received(data)
            return
        if b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_REQUEST_BYTES:
                self._refuse("bad_request", TOO_LARGE)
            return  # wait for the whole request; websockets' open_timeout bounds the wait
        answer = self.gate.answer(method, path)
        self._stage = "done"
        self.transport.write(answer.encode(head_only=method == "HEAD"))
        self.transport.close()

    def _refuse(self, reason: str, answer: Answer) -> None:
        """Answer with a plain HTTP error and close; count it. No websocket is opened."""
        self._stage = "done"
        self._buffer = b""
        if reason != "bad_request":
            self.gate.refused(reason)
        self.handshake_done()
        self.transport.write(answer.encode(head_only=False))
        self.transport.close()

    def pause_writing(self) -> None:
        """The transport holds more than ``send_buffer_bytes`` unsent: the peer stopped
        reading. Drop it (it may resume later) rather than buffer without bound."""
        super().pause_writing()
        if self._stage == "websocket":
            self.dropped = True
            self.gate.refused("slow_reader")
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.handshake_done()
        if self._open:
            self._open = False
            self.gate.open -= 1
        super().connection_lost(exc)
