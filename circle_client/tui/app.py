"""``circle``: the Textual app. It owns the connection and routes events down to the screens;
screens ask it for what only it can do (join, open, leave, other screens) with a Request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import TextArea

from circle_client import events as ev
from circle_client.client import CircleClient, ConnectError
from circle_client.commands import COMMANDS
from circle_client.handles import suggest_handle
from circle_client.session import Session
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import (
    ConfirmScreen,
    CrisisScreen,
    HelpScreen,
    LockScreen,
)
from circle_client.tui.screens import (
    CircleScreenBase,
    EndedScreen,
    HomeScreen,
    JoinScreen,
    LobbyScreen,
    OpenScreen,
    Request,
    RulesScreen,
    WaitingScreen,
)
from circle_client.tui.wording import ending, ends_here, lives_here_short, plain_error
from protocol.errors import CircleError
from protocol.invite import Invite

DEFAULT_CRISIS = (
    "If you are in danger or thinking about ending your life, contact local emergency services "
    "now (112 in the EU, 911 in the US, 999 in the UK), or a crisis line: 988 (US, call or "
    "text), Samaritans 116 123 (UK and Ireland). findahelpline.com lists free, confidential "
    "lines in many countries."
)
CLEAR_SCREEN = "\x1b[2J\x1b[3J\x1b[H"
WRITES_FILES = {"Screenshot"}
"""Titles of Textual's built-in palette commands that would write a file."""
DISCONNECT_KINDS = {1000: "left", 4001: "ended", 4002: "removed", 4003: "banned", 4004: "declined"}
"""A connection the server closed with a close code of its own: which ending that is."""


class CircleApp(App[str]):
    CSS_PATH = "circle.tcss"
    TITLE = "Circle"
    BINDINGS = [
        Binding("ctrl+x", "quick_exit", "Quick exit", priority=True),
        Binding("f2", "crisis", "Crisis help", priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        server_url: str | None = None,
        invite: str | None = None,
        invite_from_argument: bool = False,
        invite_from_clipboard: bool = False,
        handle: str | None = None,
        open_defaults: dict[str, Any] | None = None,
        auto_open: bool = False,
        clock: Callable[[], float] = time.time,
        suggest: Callable[[], str] = suggest_handle,
        session_factory: Callable[[], Session] | None = None,
        idle_lock_seconds: float = 300.0,
        local_port: int = 8765,
        share: str | None = None,
        bell: bool = False,
    ) -> None:
        super().__init__()
        self.server_url = server_url
        self.start_invite = invite
        self.invite_from_argument = invite_from_argument
        self.invite_from_clipboard = invite_from_clipboard
        self.start_handle = handle
        self.open_defaults = open_defaults or {}
        self.auto_open = auto_open
        self.clock = clock
        self.suggest = suggest
        self.session_factory = session_factory or (lambda: Session(clock=clock))
        """Sessions keep the screen's clock: the share timer and a mute count down on one."""
        self.idle_lock_seconds = idle_lock_seconds
        self.local_port = local_port
        self.share = share
        """``--share HOST[:PORT]``: the embedded server listens where others can reach it."""
        self.bell_on = bell
        """``--bell``: ring the terminal bell for knocks and concerns (F31, opt-in)."""
        self.client: CircleClient | None = None
        self.embedded: Any = None
        self.connected: ev.Connected | None = None
        self.circle_screen: CircleScreen | None = None
        self.pending: list[ev.Event] = []
        self.circle_title = ""
        self.handle = ""
        self.knock_mood: str | None = None
        self.invite: Invite | None = None
        self.last_activity = time.monotonic()
        self._pump: asyncio.Task[None] | None = None
        self.locked = False
        self._held_notifications: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ startup
    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        if self.start_invite is not None:
            self.push_screen(
                JoinScreen(
                    self.start_invite,
                    self.start_handle or "",
                    self.invite_from_argument,
                    suggestion=self.suggest(),
                    from_clipboard=self.invite_from_clipboard,
                )
            )
            if self.start_handle and self.start_invite and not self.invite_from_clipboard:
                # An invite found on the clipboard is shown for the person to confirm: it may
                # be an old one, or someone else's, so Circle never joins with it unasked.
                self.call_after_refresh(self._auto_join)
        elif self.auto_open:
            self.push_screen(self.open_screen())
            self.call_after_refresh(self._auto_open)
        if self.idle_lock_seconds > 0:
            self.set_interval(min(5.0, self.idle_lock_seconds / 2), self._check_idle)

    # ------------------------------------------------------------------ screens ask, the App acts
    def join_screen(self, invite: str = "") -> JoinScreen:
        return JoinScreen(invite, suggestion=self.suggest())

    def open_screen(self) -> OpenScreen:
        return OpenScreen(self.open_defaults, self.server_url, self.share, self.suggest())

    @on(Request)
    def requested(self, request: Request) -> None:
        """A screen asked for something: show a screen, or start work that talks to the
        server in a worker, so that keys (quick exit above all) are never held up."""
        what, details = request.what, request.details
        if what == "show":
            screen = details["screen"]
            if screen == "join":
                self.push_screen(self.join_screen(details.get("invite", "")))
            elif screen == "open":
                self.push_screen(self.open_screen())
            elif screen == "lobby":
                self.push_screen(LobbyScreen(self.server_url))
            elif screen == "crisis":
                self.action_crisis()
            else:
                self.action_help()
            return
        work: Any = {
            "join": lambda: self.join_circle(details["invite"], details["handle"]),
            "knock": lambda: self.knock(details["handle"], details["mood"]),
            "knock_again": self.knock_again,
            "open": lambda: self.open_circle(**details["options"]),
            "lobby": lambda: self.fetch_lobby(details["url"]),
            "leave": lambda: self.leave_circle(details["mood"]),
            "home": self.back_home,
            "quit": self.action_quit,
        }[what]
        self.run_worker(work(), group=what, exclusive=what in ("join", "open", "lobby"))

    async def _auto_join(self) -> None:
        screen = self.screen
        if isinstance(screen, JoinScreen):
            await screen.submit()

    async def _auto_open(self) -> None:
        screen = self.screen
        if isinstance(screen, OpenScreen):
            await screen.submit()

    @property
    def crisis_text(self) -> str:
        if self.connected and self.connected.crisis.strip():
            return self.connected.crisis
        return DEFAULT_CRISIS

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        """Textual's own commands, less those that write files (the screenshot would save the
        conversation and the invite to disk), plus Circle's."""
        for builtin in super().get_system_commands(screen):
            if builtin.title not in WRITES_FILES:
                yield builtin
        yield SystemCommand(
            "Crisis resources", "Show crisis resources privately", self.action_crisis
        )
        yield SystemCommand(
            "Quick exit", "Leave, clear the screen and close Circle", self.action_quick_exit
        )
        if isinstance(screen, CircleScreen):
            for command in COMMANDS:
                if command.facilitator and not screen.facilitating:
                    continue
                yield SystemCommand(
                    f"/{command.name}",
                    f"{command.help}  ({command.usage})",
                    lambda name=command.name: self._prefill(name),
                )

    # Nothing of a circle is ever written to disk (F5, S7): Textual's ways of saving the screen
    # or delivering a file are refused, whatever asks for them (a key, the palette, or the
    # TEXTUAL_SCREENSHOT setting).
    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self.refuse_to_write()

    def save_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str:
        self.refuse_to_write()
        return ""

    def deliver_screenshot(self, *args: Any, **kwargs: Any) -> str | None:
        self.refuse_to_write()
        return None

    def deliver_text(self, *args: Any, **kwargs: Any) -> str | None:
        self.refuse_to_write()
        return None

    def deliver_binary(self, *args: Any, **kwargs: Any) -> str | None:
        self.refuse_to_write()
        return None

    def refuse_to_write(self) -> None:
        self.notify("Circle never saves anything to disk, not even a screenshot.", timeout=6)

    def _prefill(self, name: str) -> None:
        if self.circle_screen is not None:
            composer = self.circle_screen.composer
            composer.text = f"/{name} "
            composer.move_cursor(composer.document.end)
            composer.focus()

    # ------------------------------------------------------------------ connection
    async def ensure_client(self, url: str) -> CircleClient:
        if (
            self.client is not None
            and self.client.server_url == url
            and not self.client.session.closed
        ):
            return self.client
        await self.drop_client()
        client = CircleClient(url, session=self.session_factory())
        self.connected = await client.connect()
        self.client = client
        self._pump = asyncio.create_task(self._pump_events(client))
        return client

    async def drop_client(self) -> None:
        client, self.client = self.client, None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 2.0)
            except TimeoutError:  # an unreachable server must not hold the app open
                await client.abort(leave=False)

    async def ensure_local_server(self) -> str:
        """No server given: start one in this process (F19 defaults): on localhost only, or
        on the address given with ``--share``. The circle then lives in this window."""
        host, _, port_text = (self.share or "127.0.0.1").rpartition(":")
        if not host:
            host, port_text = port_text, ""
        if self.embedded is not None:
            return f"ws://{host}:{self.embedded.port}"
        from circle_server.config import ServerConfig
        from circle_server.server import CircleServer

        wanted = int(port_text) if port_text.isdigit() else self.local_port
        for port in (wanted, 0):
            server = CircleServer(ServerConfig(host=host, port=port))
            try:
                await server.start()
            except OSError:
                continue
            self.embedded = server
            return f"ws://{host}:{server.port}"
        raise ConnectError(
            f"Could not start a server on {host}. Check that this computer has that address."
        )

    @property
    def lives_here(self) -> str | None:
        """Words for the status line when a circle's server runs in this window and a circle
        is open there: after a hand-over or after leaving it too, since it still ends for
        everyone when this window closes."""
        if self.embedded is None or not self.embedded.registry.circles:
            return None
        return lives_here_short(self.share)

    async def _pump_events(self, client: CircleClient) -> None:
        while True:
            event = await client.events.get()
            try:
                self.route(event)
            except Exception:  # noqa: BLE001 - keep the connection alive; say so plainly
                self.notify(
                    "Something went wrong showing the latest update. You are still connected; "
                    "if the screen looks wrong, leave and join again.",
                    severity="error",
                )

    # ------------------------------------------------------------------ routing
    def route(self, event: ev.Event) -> None:  # noqa: C901 - one switch over event types
        if isinstance(event, ev.Connected):
            self.connected = event
            if self.circle_screen is not None:  # back after a restart: the host's words now
                self.circle_screen.crisis = self.crisis_text
                self.circle_screen.risk_phrases = event.risk_phrases
        elif isinstance(event, ev.RulesToAccept):
            self.circle_title = event.title
            self.push_screen(RulesScreen(event.title, event.rules, event.guidelines, self.handle))
        elif isinstance(event, ev.Admitted):
            self.enter_circle()
            if event.pinned:
                self.pending.append(ev.Pinned(event.pinned, 0))
        elif isinstance(event, ev.CircleOpened):
            self.invite = event.invite
            self.enter_circle()
        elif isinstance(event, ev.Declined):
            self.end("declined")
        elif isinstance(event, ev.Removed):
            self.end("banned" if event.banned else "removed" if event.signed else "left_out")
        elif isinstance(event, ev.CircleClosed):
            self.end("ended", event.reason)
        elif isinstance(event, ev.Disconnected):
            if self.circle_screen is not None or isinstance(
                self.screen, WaitingScreen | RulesScreen
            ):
                self.end(DISCONNECT_KINDS.get(event.code or 0, "gone"), event.reason)
        elif isinstance(event, ev.LobbyListed):
            if isinstance(self.screen, LobbyScreen):
                self.screen.show_listing(event.circles, self.clock())
        elif self.circle_screen is not None:
            if self.circle_screen.is_mounted and not self.pending:
                self.circle_screen.handle_event(event)
            else:
                self.pending.append(event)  # keeps the order until the screen is up
        elif isinstance(event, ev.ErrorReceived | ev.SecurityAlert):
            screen = self.screen
            if isinstance(screen, WaitingScreen) and getattr(event, "ref", None) == "knock":
                screen.refuse(event.message)
            elif isinstance(screen, CircleScreenBase):
                screen.show_error(plain_error(event.message))

    def enter_circle(self) -> None:
        assert self.client is not None
        title = self.circle_title or self.open_defaults.get("title", "Circle")
        self.circle_screen = CircleScreen(
            title,
            self.client,
            clock=self.clock,
            crisis=self.crisis_text,
            risk_phrases=self.connected.risk_phrases if self.connected else (),
            handle=self.handle,
            invite=str(self.invite) if self.invite is not None else None,
            lives_here=lives_here_short(self.share) if self.embedded is not None else None,
            bell=self.bell_on,
        )
        self.switch_screen(self.circle_screen)
        self.call_after_refresh(self._flush_pending)

    def _flush_pending(self) -> None:
        screen = self.circle_screen
        if screen is None or not screen.is_mounted:
            self.call_after_refresh(self._flush_pending)
            return
        pending, self.pending = self.pending, []
        for event in pending:
            screen.handle_event(event)

    def end(self, kind: str, detail: str = "") -> None:
        """The circle is over for us: drop its transcript, invite and drafts now (F5), and
        say how it ended (:func:`~circle_client.tui.wording.ending`)."""
        screen, self.circle_screen = self.circle_screen, None
        if screen is not None:
            screen.wipe()
        self.pending.clear()
        self.invite = None
        while isinstance(self.screen, ModalScreen) and len(self.screen_stack) > 1:
            self.pop_screen()  # a dialog over the circle goes with it
        self.switch_screen(EndedScreen(ending(kind, detail), self.crisis_text))

    # ------------------------------------------------------------------ actions from screens
    async def join_circle(self, invite: Invite, handle: str) -> None:
        self.handle = handle
        try:
            client = await self.ensure_client(invite.server_url.rstrip("/"))
            await client.send_join(invite)
        except (ConnectError, CircleError) as exc:
            if isinstance(self.screen, CircleScreenBase):
                self.screen.show_error(plain_error(exc))

    async def knock(self, handle: str, mood: str | None) -> None:
        """Knock, on the waiting screen already, so a refusal always has a screen to show on."""
        assert self.client is not None
        self.knock_mood = mood
        self.switch_screen(WaitingScreen())
        await self.client.knock(handle, mood)

    async def knock_again(self) -> None:
        """After a refused knock (no facilitator was connected): the same handle and mood."""
        if self.client is not None:
            await self.client.knock(self.handle, self.knock_mood)

    async def open_circle(self, **options: Any) -> None:
        options.setdefault("approval_key", self.open_defaults.get("approval_key"))
        self.circle_title = options["title"]
        self.open_defaults["title"] = options["title"]
        try:
            url = self.server_url or await self.ensure_local_server()
            client = await self.ensure_client(url)
            await client.send_open(**options)
        except (ConnectError, CircleError) as exc:
            if isinstance(self.screen, CircleScreenBase):
                self.screen.show_error(plain_error(exc))

    async def fetch_lobby(self, url: str) -> None:
        try:
            client = await self.ensure_client(url)
            await client.request_lobby()
        except (ConnectError, CircleError) as exc:
            if isinstance(self.screen, CircleScreenBase):
                self.screen.show_error(plain_error(exc))

    async def leave_circle(self, mood: str | None = None) -> None:
        if self.client is not None:
            await self.client.close(mood)
        await self.drop_client()
        self.end("left")

    async def back_home(self) -> None:
        await self.drop_client()
        self.circle_screen = None
        # Back to the home screen pushed at start; never pop Textual's own default screen.
        while len(self.screen_stack) > 1 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()
        if not isinstance(self.screen, HomeScreen):
            self.push_screen(HomeScreen())

    async def action_quit(self) -> None:
        """Ctrl+Q: leave cleanly and close; first a word if the circle lives in this window."""
        if self.lives_here is None:
            self.exit()
        else:
            self.confirm_quit()

    @work(group="quit", exclusive=True)
    async def confirm_quit(self) -> None:
        question = ConfirmScreen(
            "Quit Circle?", ends_here("quit"), yes="Quit and end it", no="Stay"
        )
        if await self.push_screen_wait(question):
            self.exit()

    # ------------------------------------------------------------------ safety
    async def action_quick_exit(self) -> None:
        """F12: leave, wipe and exit at once; the terminal is cleared after exit."""
        client, self.client = self.client, None
        if client is not None:
            await client.abort(leave=True)
        self.exit("quick-exit")

    def action_crisis(self) -> None:
        self.push_screen(CrisisScreen(self.crisis_text))

    def action_help(self) -> None:
        facilitating = self.circle_screen is not None and self.circle_screen.facilitating
        self.push_screen(HelpScreen(self.crisis_text, facilitating))

    def on_key(self, event: events.Key) -> None:
        self.last_activity = time.monotonic()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.last_activity = time.monotonic()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.last_activity = time.monotonic()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.last_activity = time.monotonic()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.last_activity = time.monotonic()

    def _check_idle(self) -> None:
        idle = time.monotonic() - self.last_activity
        if idle >= self.idle_lock_seconds and not self.locked:
            self.locked = True
            self.clear_notifications()  # a toast could show a handle or a private note
            if self.circle_screen is not None:
                self.circle_screen.away = True
            self.push_screen(LockScreen(), callback=lambda _: self._unlocked())

    def _unlocked(self) -> None:
        self.locked = False
        if self.circle_screen is not None:
            self.circle_screen.away = False
        self.last_activity = time.monotonic()
        held, self._held_notifications = self._held_notifications, []
        for message, options in held:
            super().notify(message, **options)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """While the idle lock is up, notifications wait for the person to come back (F12)."""
        options: dict[str, Any] = dict(
            title=title, severity=severity, timeout=timeout, markup=markup
        )
        if self.locked:
            self._held_notifications.append((message, options))
            return
        super().notify(message, **options)

    async def on_unmount(self) -> None:
        await self.drop_client()
        if self.embedded is not None:
            await self.embedded.stop()
