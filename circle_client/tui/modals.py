"""Dialogs: help, crisis resources, send-anyway confirmation, idle lock."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from circle_client.commands import COMMANDS
from protocol.content import MOODS

KEYS = (
    ("Ctrl+X", "Quick exit: leaves, clears the screen and closes Circle at once"),
    ("F2", "Crisis resources (shown only to you)"),
    ("F1", "This help"),
    ("Enter", "Send"),
    ("Ctrl+J", "New line"),
    ("Tab", "Complete a /command"),
    ("PageUp/Down", "Read back in the transcript (new messages wait below)"),
    ("F5", "Act on a message: reply, react, take back, open, raise a concern"),
    ("Ctrl+P", "Command palette (every /command is there)"),
    ("Ctrl+F", "Circle fingerprint (compare it aloud)"),
    ("Ctrl+L", "Leave, with an optional check-out mood"),
    ("Ctrl+Q", "Quit (leaves the circle first)"),
    ("Escape", "Close a dialog"),
)
FACILITATOR_KEYS = (
    ("F3", "The waiting room: Enter admits the highlighted knock, d declines"),
    ("F4", "The invite on one line, ready to copy"),
)


def two_columns(rows: Iterable[tuple[str, str]]) -> Table:
    """Key or usage on the left, words on the right; the words wrap under themselves.
    Plain Text cells, so an argument like ``[WORD]`` is shown as written, never as markup."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(ratio=1)
    for left, right in rows:
        grid.add_row(Text(left), Text(right))
    return grid


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, crisis: str, facilitator: bool) -> None:
        super().__init__()
        self.crisis = crisis
        self.facilitator = facilitator

    def compose(self) -> ComposeResult:
        keys = KEYS + (FACILITATOR_KEYS if self.facilitator else ())
        commands = [(c.usage, c.help) for c in COMMANDS if self.facilitator or not c.facilitator]
        with VerticalScroll(classes="dialog", id="help"):
            yield Static("Circle help", classes="title")
            yield Static("[b]Keys[/b]", markup=True)
            yield Static(two_columns(keys), id="help-keys")
            yield Static("\n[b]Commands[/b]", markup=True)
            yield Static(two_columns(commands), id="help-commands")
            yield Static("\n[b]Crisis resources[/b]", markup=True)
            yield Static(self.crisis, markup=False)
            yield Static("\nPress Escape to close.", classes="hint")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class CrisisScreen(ModalScreen[bool]):
    """Crisis resources. With ``draft=True`` it appears before sending, privately (F13)."""

    BINDINGS = [Binding("escape", "keep", "Close")]

    def __init__(self, crisis: str, draft: bool = False) -> None:
        super().__init__()
        self.crisis = crisis
        self.draft = draft

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="crisis"):
            if self.draft:
                yield Static("You are not alone", classes="title")
                yield Static(
                    "What you wrote sounds like you might be going through something very "
                    "hard. Only you can see this. If you are in danger, please reach out now:"
                )
            else:
                yield Static("Crisis resources", classes="title")
                yield Static("Only you can see this.", classes="hint")
            yield Static(self.crisis, markup=False, id="crisis-text")
            with Horizontal():
                if self.draft:
                    yield Button("Keep editing", id="keep", variant="primary")
                    yield Button("Send to the circle", id="send")
                else:
                    yield Button("Close", id="keep", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "send")

    def action_keep(self) -> None:
        self.dismiss(False)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; the safe answer is the default."""

    BINDINGS = [Binding("escape", "no", "No")]

    def __init__(
        self, title: str, text: str, yes: str = "Send anyway", no: str = "Keep editing"
    ) -> None:
        super().__init__()
        self.title_text, self.text, self.yes, self.no = title, text, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Static(self.title_text, classes="title")
            yield Static(self.text, markup=False)
            with Horizontal():
                yield Button(self.no, id="no", variant="primary")
                yield Button(self.yes, id="yes")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)


class LockScreen(ModalScreen[None]):
    """Idle lock (F12): the transcript is hidden until a key is pressed."""

    def compose(self) -> ComposeResult:
        with Vertical(id="lock"):
            yield Static("Circle is locked because you were away.", classes="title")
            yield Static("Press any key to come back.  Ctrl+X exits at once.", classes="hint")

    def on_key(self, event: object) -> None:
        self.dismiss(None)


TOO_WIDE = (
    "The invite is wider than this window, so only part of it shows: use Copy, or widen the "
    "window to see it whole on one line."
)


class InviteScreen(ModalScreen[None]):
    """The invite, on its own, ready to copy (F2): one line, no borders in the way."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("c", "copy", "Copy")]

    def __init__(self, invite: str) -> None:
        super().__init__()
        self.invite = invite

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="invite-dialog"):
            yield Static("Invite", classes="title")
            yield Static(
                "Share it privately, only with people you want in this circle. Anyone holding "
                "it can knock; you decide who comes in."
            )
            yield Input(self.invite, id="invite-text")
            yield Static(TOO_WIDE, id="invite-too-wide", classes="hint")
            with Horizontal():
                yield Button("Copy to clipboard (c)", id="copy", variant="primary")
                yield Button("Close (Esc)", id="close")

    def on_mount(self) -> None:
        field = self.query_one("#invite-text", Input)
        field.cursor_position = 0  # the start shows: where it begins is what people check
        self.query_one("#invite-too-wide").display = False

    def on_resize(self) -> None:
        field = self.query_one("#invite-text", Input)
        fits = len(self.invite) < field.content_size.width
        self.query_one("#invite-too-wide").display = not fits

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.invite)
        self.notify("Copied (if your terminal allows clipboard access).", timeout=4)

    def action_close(self) -> None:
        self.dismiss(None)


class LeaveScreen(ModalScreen[tuple[bool, str | None]]):
    """Leaving, with an optional check-out mood (F11); only the anonymous tally is shown."""

    BINDINGS = [Binding("escape", "stay", "Stay")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="leave-dialog"):
            yield Static("Leave the circle?", classes="title")
            yield Static(
                "How are you leaving? (optional; the facilitators see only a count, never who)"
            )
            yield OptionList(
                Option("(skip)", id="none"), *(Option(m, id=m) for m in MOODS), id="checkout"
            )
            with Horizontal():
                yield Button("Leave", id="leave", variant="primary")
                yield Button("Stay (Esc)", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "leave":
            self.dismiss((False, None))
            return
        moods = self.query_one("#checkout", OptionList)
        index = moods.highlighted
        option = moods.get_option_at_index(index) if index is not None else None
        self.dismiss((True, option.id if option is not None and option.id != "none" else None))

    def action_stay(self) -> None:
        self.dismiss((False, None))
