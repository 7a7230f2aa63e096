"""Before and after the circle: home, join, ground rules, waiting room, open, ended.

These screens get what they show in their constructors and post a :class:`Request` (a
Textual Message) for the App to act on ("attributes down, messages up"): they never import
the App or call into it.
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from circle_client.events import ListedCircle
from circle_client.handles import check_handle
from circle_client.tui.wording import FORGOTTEN, GENTLE, Ending, clean_invite, lives_here
from protocol import limits
from protocol.errors import InviteError
from protocol.invite import Invite

DEFAULT_RULES = (
    "1. What is shared here stays here.\n"
    "2. Speak from your own experience; no advice unless someone asks.\n"
    "3. No names, places or contact details.\n"
    "4. You can always pass."
)


class Request(Message):
    """What a person asked a screen for, for the App to do.

    ``what`` is one of: ``show`` (``screen``: join, open, lobby, crisis or help; ``invite``
    to fill in), ``join`` (``invite``, ``handle``), ``knock`` (``handle``, ``mood``),
    ``knock_again``, ``open`` (``options``), ``lobby`` (``url``), ``leave`` (``mood``, how the
    person felt, or None), ``home``, ``quit``.
    """

    def __init__(self, what: str, **details: Any) -> None:
        super().__init__()
        self.what = what
        self.details = details


class CircleScreenBase(Screen[None]):
    def request(self, what: str, **details: Any) -> None:
        self.post_message(Request(what, **details))

    def show_error(self, text: str) -> None:
        for label in self.query("#error"):
            label.update(text)  # type: ignore[attr-defined]


class HomeScreen(CircleScreenBase):
    BINDINGS = [
        Binding("j", "join", "Join"),
        Binding("o", "open", "Open"),
        Binding("l", "lobby", "Lobby"),
    ]

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="home"):
            yield Static("Circle", classes="title")
            yield Static(
                "Small, anonymous support circles. End-to-end encrypted; nothing is kept "
                "after a circle ends.",
                classes="hint",
            )
            yield Button("Join a circle with an invite  (j)", id="join", variant="primary")
            yield Button("Open a circle as its facilitator  (o)", id="open")
            yield Button("Browse a server's listed circles  (l)", id="lobby")
            yield Button("Help and crisis resources  (F1 / F2)", id="help")
            yield Label("", id="error", classes="error")
        yield Footer(compact=True)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.request("show", screen=event.button.id or "help")

    def action_join(self) -> None:
        self.request("show", screen="join")

    def action_open(self) -> None:
        self.request("show", screen="open")

    def action_lobby(self) -> None:
        self.request("show", screen="lobby")


class InviteInput(Input):
    """The invite field: a paste that a terminal wrapped over several lines still works."""

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        self.insert_text_at_cursor(clean_invite(event.text))


HISTORY_WARNING = (
    "The invite you typed on the command line stays in your shell's history, and others on "
    "this computer could see it while Circle runs. Next time, run "
    "'circle join' and paste the invite here instead."
)
FROM_CLIPBOARD = (
    "The invite was filled in from your clipboard. Check that it is the one you were given, "
    "then choose a handle."
)


class JoinScreen(CircleScreenBase):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(
        self,
        invite: str = "",
        handle: str = "",
        from_argument: bool = False,
        suggestion: str = "",
        from_clipboard: bool = False,
    ) -> None:
        super().__init__()
        self.invite_text = invite
        self.handle_text = handle or suggestion
        self.from_argument = from_argument
        self.from_clipboard = from_clipboard

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="join"):
            yield Static("Join a circle", classes="title")
            if self.from_argument:
                yield Static(HISTORY_WARNING, classes="hint", id="history-warning")
            if self.from_clipboard:
                yield Static(FROM_CLIPBOARD, classes="hint", id="from-clipboard")
            yield Label("Paste the invite you were given:")
            yield InviteInput(self.invite_text, placeholder="circle://...", id="invite")
            yield Label("Choose a throwaway handle (not your real name):")
            yield Input(self.handle_text, id="handle", max_length=32)
            yield Button("Continue", id="continue", variant="primary")
            yield Label("", id="error", classes="error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#invite" if not self.invite_text else "#handle", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#continue")
    async def submit(self) -> None:
        invite_text = clean_invite(self.query_one("#invite", Input).value)
        handle = self.query_one("#handle", Input).value.strip().lower()
        try:
            invite = Invite.parse(invite_text)
        except InviteError as exc:
            self.show_error(str(exc))
            return
        problem = check_handle(handle)
        if problem:
            self.show_error(problem)
            return
        self.show_error("Connecting...")
        self.request("join", invite=invite, handle=handle)

    def action_back(self) -> None:
        self.app.pop_screen()


class RulesScreen(CircleScreenBase):
    """The circle's ground rules and the host's guidelines, accepted explicitly (F3)."""

    BINDINGS = [Binding("escape", "decline", "Leave")]

    def __init__(self, title: str, rules: str, guidelines: str, handle: str) -> None:
        super().__init__()
        self.circle_title, self.rules, self.guidelines, self.handle = (
            title,
            rules,
            guidelines,
            handle,
        )

    def compose(self) -> ComposeResult:
        with Center(), VerticalScroll(id="rules"):
            yield Static(self.circle_title, classes="title")
            yield Static("[b]Ground rules of this circle[/b]", markup=True)
            yield Static(self.rules, markup=False, id="rules-text", classes="panel")
            yield Static("[b]Community guidelines[/b]", markup=True)
            yield Static(self.guidelines, markup=False, classes="panel")
            yield Label("How are you arriving today? (optional, only counted anonymously)")
            yield OptionList(
                Option("(skip)", id="none"),
                *(Option(m, id=m) for m in ("rough", "low", "okay", "good", "great")),
                id="mood",
            )
            with Horizontal():
                yield Button(f"I accept - knock as {self.handle}", id="accept", variant="primary")
                yield Button("Leave", id="leave")
            yield Label("", id="error", classes="error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#accept", Button).focus()

    @on(Button.Pressed, "#accept")
    async def accept(self) -> None:
        mood_list = self.query_one("#mood", OptionList)
        option = (
            mood_list.get_option_at_index(mood_list.highlighted) if mood_list.highlighted else None
        )
        mood = option.id if option is not None and option.id != "none" else None
        self.request("knock", handle=self.handle, mood=mood)

    @on(Button.Pressed, "#leave")
    def action_decline(self) -> None:
        self.request("home")


WAITING = (
    "You knocked. Waiting for the facilitator to let you in...\n"
    "You can leave at any time (Escape), or quick-exit (Ctrl+X)."
)
REFUSED = (
    "Your knock did not reach anyone, so you are not in the waiting room.\n"
    "Knock again in a few minutes, or leave (Escape)."
)


class WaitingScreen(CircleScreenBase):
    """After knocking: waiting to be admitted, or told plainly that the knock was refused
    (no facilitator connected, F6) with a way to knock again."""

    BINDINGS = [Binding("escape", "leave", "Leave")]

    def __init__(self) -> None:
        super().__init__()
        self.refusal: str | None = None

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="waiting"):
            yield Static("Waiting room", classes="title", id="waiting-title")
            yield Static(WAITING, id="waiting-text")
            yield Label("", id="error", classes="error")
            again = Button("Knock again", id="knock-again", variant="primary")
            again.display = False
            yield again
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_state()

    def refuse(self, message: str) -> None:
        """The server refused the knock; ``message`` says why (shown as it is)."""
        self.refusal = message
        if self.is_mounted:
            self.show_state()

    def show_state(self) -> None:
        refused = self.refusal is not None
        title = "You are not in yet" if refused else "Waiting room"
        self.query_one("#waiting-title", Static).update(title)
        self.query_one("#waiting-text", Static).update(REFUSED if refused else WAITING)
        self.show_error(self.refusal or "")
        again = self.query_one("#knock-again", Button)
        again.display = refused
        if refused:
            again.focus()

    @on(Button.Pressed, "#knock-again")
    async def knock_again(self) -> None:
        self.refusal = None
        self.show_state()
        self.request("knock_again")

    def action_leave(self) -> None:
        self.request("home")


class OpenScreen(CircleScreenBase):
    """Facilitator: open a timed circle (F1)."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(
        self,
        defaults: dict[str, Any] | None = None,
        server_url: str | None = None,
        share: str | None = None,
        suggestion: str = "",
    ) -> None:
        super().__init__()
        self.defaults = defaults or {}
        self.server_url, self.share, self.suggestion = server_url, share, suggestion

    def compose(self) -> ComposeResult:
        defaults = self.defaults
        with Center(), VerticalScroll(id="open"):
            yield Static("Open a circle", classes="title")
            # Where the circle will live comes first: it decides who can reach it at all.
            where = f"Server: {self.server_url}" if self.server_url else lives_here(self.share)
            yield Static(where, classes="hint where", id="where", markup=False)
            yield Label("Title (seen by people you invite; by everyone if listed):")
            yield Input(defaults.get("title", "An evening circle"), id="title", max_length=120)
            yield Label("Ground rules (everyone accepts these before knocking):")
            yield TextArea(defaults.get("rules", DEFAULT_RULES), id="rules-input")
            with Horizontal():
                yield Label("Minutes ")
                yield Input(str(defaults.get("minutes", 60)), id="minutes", type="integer")
                yield Label(" Seats ")
                yield Input(str(defaults.get("capacity", 12)), id="capacity", type="integer")
            yield Checkbox(
                "Admit everyone who knocks (auto-admit)",
                bool(defaults.get("auto_admit")),
                id="auto",
            )
            yield Checkbox(
                "List in the server's lobby (anyone can knock, its operator too)",
                bool(defaults.get("listed")),
                id="listed",
            )
            yield Label("Your handle in the circle:")
            yield Input(defaults.get("handle") or self.suggestion, id="handle", max_length=32)
            yield Button("Open the circle", id="open-button", variant="primary")
            yield Label("", id="error", classes="error")
        yield Footer(compact=True)

    @on(Button.Pressed, "#open-button")
    async def submit(self) -> None:
        def number(widget_id: str) -> int | None:
            text = self.query_one(widget_id, Input).value.strip()
            return int(text) if text.isdigit() else None

        minutes, capacity = number("#minutes"), number("#capacity")
        handle = self.query_one("#handle", Input).value.strip().lower()
        title = self.query_one("#title", Input).value.strip()
        if not title:
            self.show_error("Give the circle a title.")
            return
        if minutes is None or not 1 <= minutes <= 1440:
            self.show_error("Minutes must be a whole number, like 60.")
            return
        if capacity is None or not 2 <= capacity <= limits.MAX_HYBRID_CAPACITY:
            self.show_error(f"Seats must be between 2 and {limits.MAX_HYBRID_CAPACITY}.")
            return
        problem = check_handle(handle)
        if problem:
            self.show_error(problem)
            return
        self.show_error("Opening...")
        options = dict(
            handle=handle,
            title=title,
            rules=self.query_one("#rules-input", TextArea).text,
            minutes=minutes,
            capacity=capacity,
            auto_admit=self.query_one("#auto", Checkbox).value,
            listed=self.query_one("#listed", Checkbox).value,
        )
        self.request("open", options=options)

    def action_back(self) -> None:
        self.app.pop_screen()


class LobbyScreen(CircleScreenBase):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, server_url: str | None = None) -> None:
        super().__init__()
        self.server_url = server_url

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="join"):
            yield Static("Listed circles", classes="title")
            yield Label("Server address:")
            yield Input(self.server_url or "ws://127.0.0.1:8765", id="server")
            yield Button("Show listed circles", id="list", variant="primary")
            yield OptionList(id="listing")
            yield Label("", id="error", classes="error")
        yield Footer(compact=True)

    @on(Button.Pressed, "#list")
    async def fetch(self) -> None:
        self.request("lobby", url=self.query_one("#server", Input).value.strip())

    def show_listing(self, circles: tuple[ListedCircle, ...], now: float) -> None:
        listing = self.query_one("#listing", OptionList)
        listing.clear_options()
        for c in circles:
            minutes = max(0, int((c.ends_at - now) // 60))
            who = (
                f"facilitator approved by {c.approved_by[:16]}"
                if c.approved_by
                else "vouched for by the server only"
            )
            label = f"{c.title}  ({minutes} min left, {c.seats} seats; {who})"
            listing.add_option(Option(label, id=c.invite))
        self.show_error("" if circles else "No listed circles on this server right now.")

    @on(OptionList.OptionSelected, "#listing")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.request("show", screen="join", invite=event.option.id or "")

    def action_back(self) -> None:
        self.app.pop_screen()


class EndedScreen(CircleScreenBase):
    """After the circle, whichever way it ended for this person: what happened, what they
    can do next, the host's crisis resources and a gentle word (never a bare "ended")."""

    BINDINGS = [Binding("q", "quit", "Quit"), Binding("h", "home", "Home")]

    def __init__(self, end: Ending, crisis: str) -> None:
        super().__init__()
        self.end = end
        self.crisis = crisis

    @property
    def message(self) -> str:
        return self.end.what

    def compose(self) -> ComposeResult:
        with Center(), VerticalScroll(id="ended"):
            yield Static(self.end.title, classes="title", id="ended-title", markup=False)
            yield Static(self.end.what, id="ended-what", markup=False)
            yield Static(self.end.next, id="ended-next", markup=False)
            yield Static(f"\n{GENTLE}", id="ended-gentle", classes="gentle", markup=False)
            yield Static(self.crisis, id="ended-crisis", classes="panel", markup=False)
            yield Static(FORGOTTEN, classes="hint", markup=False)
            with Horizontal(id="ended-buttons"):
                yield Button("Back to the start  (h)", id="home", variant="primary")
                yield Button("Quit  (q)", id="quit")
        yield Footer(compact=True)

    @on(Button.Pressed, "#home")
    def action_home(self) -> None:
        self.request("home")

    @on(Button.Pressed, "#quit")
    def action_quit(self) -> None:
        self.request("quit")  # the App asks first if a circle still lives in this window
