"""The asyncio client: a :class:`~circle_client.session.Session` over a real websocket.

Usable without the TUI (tests, bots, scripts)::

    async with CircleClient("ws://127.0.0.1:8765") as client:
        invite = await client.open_circle(handle="calm-heron", title="Evening", rules="Be kind")
        ...
        await client.post("hello")
        event = await client.next_event(MessageReceived)

Dropped connections are retried with backoff and the session resumes where it was: missed
messages arrive once, gaps are reported (PROTOCOL.md 3, resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType
from typing import Any, TypeVar, Unpack

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

from circle_client import events as ev
from circle_client.proxy import check_proxy, proxy_from_environment, shown
from circle_client.session import ModerateOptions, Session
from circle_client.trust import certificate_problem, tls_context
from protocol.errors import CircleError, RemoteProtocolError
from protocol.frames import decode_frame, encode_frame
from protocol.invite import Invite, parse_server_url

E = TypeVar("E", bound=ev.Event)

BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
STABLE_SECONDS = 10.0
"""A connection that lasted this long starts the backoff afresh; one closed sooner (a server
that cannot resume the circle yet) waits longer each time."""
TICK_SECONDS = 1.0
"""How often the session is asked what is overdue (a withheld rekey, S10)."""
FINAL_CLOSE = {
    1000: "You left the circle.",
    1008: "The server closed the connection after invalid messages.",
    4001: "The circle has ended.",
    4002: "A facilitator removed you from the circle.",
    4003: "You cannot join this circle.",
    4004: "The facilitator did not admit you this time.",
    4008: "The server closed the connection: too many messages too fast.",
    4009: "Too many connections from your address. Close other Circle windows and try again.",
    4011: "This server speaks a different Circle protocol. Update circle.",
}


class ConnectError(CircleError):
    """The server could not be reached; the message says what to try."""


class CircleClient:
    """One person's connection to a Circle server."""

    def __init__(
        self,
        server_url: str,
        session: Session | None = None,
        reconnect: bool = True,
        proxy: str | None = None,
    ) -> None:
        parse_server_url(server_url)
        self.server_url = server_url
        self.proxy = check_proxy(proxy) if proxy else proxy_from_environment()
        self.tls = tls_context() if parse_server_url(server_url)[2] else None
        """A SOCKS5 proxy every connection goes through (Tor), or None (circle_client/proxy.py)."""
        self.session = session or Session()
        self.session.server_url = server_url
        self.reconnect = reconnect
        self.events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._leaving = False
        self._send_lock = asyncio.Lock()
        self.max_retries = len(BACKOFF) * 4

    async def __aenter__(self) -> CircleClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ connection
    async def connect(self, timeout: float = 10.0) -> ev.Connected:
        """Connect and wait for the server's hello."""
        try:
            ws = await asyncio.wait_for(self._open_socket(), timeout)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(certificate_problem(self.server_url, exc)) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            if self.proxy is not None:
                raise ConnectError(
                    f"Could not reach {self.server_url} through the proxy {shown(self.proxy)} "
                    f"({type(exc).__name__}). Check that Tor (or the proxy) is running and the "
                    "server address is right."
                ) from None
            raise ConnectError(
                f"Could not reach a Circle server at {self.server_url} ({type(exc).__name__}). "
                "Check the address, or that the server is running."
            ) from None
        self._ws = ws
        self._task = asyncio.create_task(self._run(ws))
        self._ticker = asyncio.create_task(self._tick())
        hello: ev.Connected = await self.next_event(ev.Connected, timeout)
        return hello

    async def _open_socket(self) -> ClientConnection:
        return await connect(
            self.server_url,
            compression=None,
            max_size=16 * 1024 * 1024,
            open_timeout=10,
            proxy=self.proxy,
            ssl=self.tls,  # None for ws://
        )

    async def _run(self, ws: ClientConnection) -> None:
        try:
            await self._serve(ws)
        finally:
            self._stop_ticker()

    async def _serve(self, ws: ClientConnection) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            opened = loop.time()
            code = await self._pump(ws)
            if loop.time() - opened >= STABLE_SECONDS:
                attempt = 0
            if code in FINAL_CLOSE and not self.session.closed:
                self.session.wipe()  # removed, banned, declined, ended: the keys go now (F5)
            if (
                self._leaving
                or self.session.closed
                or not self.session.admitted
                or not self.reconnect
            ):
                reason = FINAL_CLOSE.get(code or 0, "The connection to the server ended.")
                if self.session.closed and code not in FINAL_CLOSE:
                    code = 4001  # the session ended it (a closed notice): the circle ended
                    reason = FINAL_CLOSE[code]
                await self.events.put(ev.Disconnected(reason, code))
                return
            if code in FINAL_CLOSE:
                self.session.wipe()
                await self.events.put(ev.Disconnected(FINAL_CLOSE[code or 0], code))
                return
            self.session.reconnecting()
            failures = 0
            while True:
                delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                attempt += 1
                await self.events.put(ev.Reconnecting(attempt, delay))
                await asyncio.sleep(delay)
                try:
                    ws = await self._open_socket()
                    self._ws = ws
                    break
                except (OSError, InvalidHandshake, TimeoutError):
                    failures += 1
                    if failures >= self.max_retries:
                        self.session.wipe()
                        await self.events.put(ev.Disconnected("Could not reconnect to the server."))
                        return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for event in self.session.tick():
                await self.events.put(event)

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _pump(self, ws: ClientConnection) -> int | None:
        """Read frames until the socket closes; return the close code."""
        try:
            await self._flush(ws)
            async for message in ws:
                if isinstance(message, str):
                    continue
                try:
                    frame = decode_frame(message)
                except RemoteProtocolError:
                    await self.events.put(
                        ev.SecurityAlert(
                            "The server sent something unreadable; it was ignored.", "malformed"
                        )
                    )
                    continue
                for event in self.session.receive(frame):
                    await self.events.put(event)
                await self._flush(ws)
        except ConnectionClosed:
            pass
        return ws.close_code

    async def _flush(self, ws: ClientConnection | None = None) -> None:
        ws = ws or self._ws
        if ws is None:
            return
        async with self._send_lock:
            frames = self.session.take_outgoing()
            for i, frame in enumerate(frames):
                # A socket already going down takes writes without a word and loses them.
                if ws.state is not State.OPEN or ws.transport.is_closing():
                    self.session.unsent(frames[i:])
                    return
                try:
                    await ws.send(encode_frame(frame))
                except ConnectionClosed:
                    # The run loop reconnects; the session sends these after the resume.
                    self.session.unsent(frames[i:])
                    return

    async def abort(self, leave: bool = True) -> None:
        """Quick exit: send leave if it goes out at once, drop the socket, wipe; no waiting."""
        self._leaving = True
        if leave and self.session.admitted and not self.session.closed:
            self.session.leave()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), 0.2)
        self.session.wipe()
        self._stop_ticker()
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            self._ws.transport.abort()

    async def close(self, mood: str | None = None) -> None:
        """Leave cleanly (if in a circle, checking out with ``mood``) and close the connection."""
        self._leaving = True
        if self.session.admitted and not self.session.closed:
            self.session.leave(mood)
            await self._flush()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
        self._stop_ticker()
        self.session.wipe()

    # ------------------------------------------------------------------ events
    async def next_event(self, kind: type[E] | None = None, timeout: float | None = 10.0) -> Any:
        """The next event (of ``kind``, skipping others); raises TimeoutError if none comes."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if kind is None or isinstance(event, kind):
                    return event
                if isinstance(event, ev.Disconnected) and kind is not ev.Disconnected:
                    raise ConnectError(event.reason)
                if isinstance(event, ev.ErrorReceived | ev.SecurityAlert) and kind in (
                    ev.Connected,
                    ev.Admitted,
                    ev.RulesToAccept,
                    ev.CircleOpened,
                ):
                    raise ConnectError(getattr(event, "message", "refused"))

    # ------------------------------------------------------------------ commands
    # Each sends what the session made of it at once. The ``send_`` ones return without
    # waiting for the answer (an app reading :attr:`events` itself uses them); the others wait
    # for it, for scripts and tests.
    async def send_open(self, **options: Any) -> None:
        """Ask to open a circle as facilitator (options as :meth:`Session.open_circle`)."""
        self.session.open_circle(self.server_url, **options)
        await self._flush()

    async def open_circle(self, **options: Any) -> Invite:
        """Open a circle as facilitator and wait for its invite."""
        await self.send_open(**options)
        opened: ev.CircleOpened = await self.next_event(ev.CircleOpened)
        return opened.invite

    async def send_join(self, invite: Invite | str) -> None:
        self.session.join(invite)
        await self._flush()

    async def join(self, invite: Invite | str) -> ev.RulesToAccept:
        """Ask to join with ``invite`` and wait for the ground rules to accept."""
        await self.send_join(invite)
        rules: ev.RulesToAccept = await self.next_event(ev.RulesToAccept)
        return rules

    async def knock(self, handle: str, mood: str | None = None) -> None:
        """Accept the ground rules and wait in the waiting room (events tell what happens)."""
        self.session.accept_rules(handle, mood)
        await self._flush()

    async def request_lobby(self) -> None:
        self.session.request_lobby()
        await self._flush()

    async def post(
        self,
        body: str,
        *,
        reply_to: tuple[int, int, int] | None = None,
        warning: str | None = None,
        me: bool = False,
    ) -> tuple[int, int, int]:
        """Send a message; returns its id (member, epoch, sequence)."""
        sent = self.session.post(body, reply_to=reply_to, warning=warning, me=me)
        await self._flush()
        return sent

    async def react(self, target: tuple[int, int, int], reaction: str) -> None:
        self.session.react(target, reaction)
        await self._flush()

    async def retract(self, target: tuple[int, int, int]) -> None:
        self.session.retract(target)
        await self._flush()

    async def concern(self, target: tuple[int, int, int] | None, note: str) -> None:
        self.session.concern(target, note)
        await self._flush()

    async def pass_turn(self) -> None:
        self.session.pass_turn()
        await self._flush()

    async def pin(self, body: str) -> None:
        self.session.pin(body)
        await self._flush()

    async def admit(self, member: int) -> None:
        self.session.admit(member)
        await self._flush()

    async def decline(self, member: int) -> None:
        self.session.decline(member)
        await self._flush()

    async def moderate(self, action: str, **options: Unpack[ModerateOptions]) -> None:
        """A signed moderation action (options as :meth:`Session.moderate`)."""
        self.session.moderate(action, **options)
        await self._flush()

    async def set_phase(self, phase: str | None) -> None:
        self.session.set_phase(phase)
        await self._flush()

    async def drop_connection(self) -> None:
        """Close the socket without leaving (as a network failure would); it reconnects."""
        if self._ws is not None:
            self._ws.transport.abort()
