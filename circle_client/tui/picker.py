"""Act on a message without typing its number: pick a recent message, then what to do with
it (reply, react, take back, open, raise a concern; for facilitators, moderation). Works with
the keyboard (arrows, Enter) and the mouse. The answer is a command line such as
``/react 12 hear`` or ``/reply 12 ``; the circle screen runs it or puts it in the composer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from circle_client.transcript import HIDDEN_BY_YOU, Entry

SHOWN = 40
"""Recent messages offered, newest first."""


@dataclass(frozen=True, slots=True)
class Choice:
    """What was picked: a command line; ``complete`` means it still needs words typed."""

    line: str
    complete: bool


Hidden = Callable[[Entry], str | None]
"""Why the reader's own settings hide an entry (Transcript.hidden), or None."""


def actions(entry: Entry, facilitating: bool, hidden: str | None) -> list[tuple[str, str, bool]]:
    """(label, command line, complete) for what this person may do with ``entry``. A message
    hidden by a filter can be opened; one from someone the reader hid stays hidden until
    they are shown again (the reader chose not to see that person)."""
    n = entry.number
    found = [
        ("Reply to it", f"/reply {n} ", False),
        ("React: I hear you", f"/react {n} hear", True),
        ("React: same here", f"/react {n} same", True),
        ("React: sending strength", f"/react {n} strength", True),
        ("React: thank you", f"/react {n} thanks", True),
    ]
    if hidden == HIDDEN_BY_YOU:
        found.insert(0, (f"Show {entry.handle}'s messages again", f"/unhide {entry.handle}", True))
    elif (entry.warning and not entry.opened) or hidden:
        found.insert(0, ("Open it (it is collapsed)", f"/open {n}", True))
    if entry.mine:
        found.append(("Take it back from everyone's screen", f"/takeback {n}", True))
    else:
        found.append(("Tell the facilitators about it, privately", f"/concern {n} ", False))
    if facilitating and not entry.mine:
        who = entry.handle
        found += [
            (f"Send {who} a private note", f"/warn {who} ", False),
            (f"Mute {who} for 5 minutes", f"/mute {who} 5", True),
            (f"Remove {who} from the circle", f"/remove {who}", True),
        ]
    return found


def summary(entry: Entry, hidden: str | None = None, width: int = 60) -> str:
    """One line for the list: never the words of a message the reader's settings hide or a
    content warning still covers."""
    words = " ".join(entry.text.split())
    if hidden:
        words = f"[hidden: {hidden}]"
    elif entry.warning and not entry.opened:
        words = f"[content warning: {entry.warning}]"
    text = f"#{entry.number}  {entry.handle}: {words}"
    return text if len(text) <= width else text[: width - 1] + "…"


class MessagePicker(ModalScreen[Choice | None]):
    """Step one: which message; step two: what to do with it. A message already chosen (a
    click in the transcript) starts at step two."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(
        self,
        entries: list[Entry],
        facilitating: bool,
        hidden: Hidden,
        chosen: Entry | None = None,
    ) -> None:
        super().__init__()
        self.entries = {e.number: e for e in entries if e.number is not None}
        if chosen is not None and chosen.number is not None:
            self.entries.setdefault(chosen.number, chosen)
        self.facilitating = facilitating
        self.hidden = hidden
        self.start = chosen
        self.chosen: Entry | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="picker"):
            yield Static("Act on a message", classes="title")
            yield Static("Pick a message (newest first), then what to do.", id="picker-hint")
            options = [
                Option(summary(e, self.hidden(e)), id=str(n))
                for n, e in sorted(self.entries.items(), reverse=True)
            ][:SHOWN]
            yield OptionList(*options, id="picker-messages")
            actions_list = OptionList(id="picker-actions")
            actions_list.display = False
            yield actions_list

    def on_mount(self) -> None:
        messages = self.query_one("#picker-messages", OptionList)
        if messages.option_count:
            messages.highlighted = 0
        else:
            self.query_one("#picker-hint", Static).update("There are no messages yet.")
        messages.focus()
        if self.start is not None:
            self.show_actions(self.start)

    @on(OptionList.OptionSelected, "#picker-messages")
    def message_picked(self, event: OptionList.OptionSelected) -> None:
        self.show_actions(self.entries[int(event.option.id or 0)])

    def show_actions(self, entry: Entry) -> None:
        self.chosen = entry
        menu = self.query_one("#picker-actions", OptionList)
        menu.clear_options()
        hidden = self.hidden(entry)
        for index, (label, _line, _complete) in enumerate(
            actions(entry, self.facilitating, hidden)
        ):
            menu.add_option(Option(label, id=str(index)))
        self.query_one("#picker-hint", Static).update(summary(entry, hidden, 70))
        self.query_one("#picker-messages").display = False
        menu.display = True
        menu.highlighted = 0
        menu.focus()

    @on(OptionList.OptionSelected, "#picker-actions")
    def action_picked(self, event: OptionList.OptionSelected) -> None:
        assert self.chosen is not None
        hidden = self.hidden(self.chosen)
        _label, line, complete = actions(self.chosen, self.facilitating, hidden)[
            int(event.option.id or 0)
        ]
        self.dismiss(Choice(line, complete))

    def action_back(self) -> None:
        if self.chosen is None:
            self.dismiss(None)
            return
        self.chosen = None
        self.query_one("#picker-actions").display = False
        messages = self.query_one("#picker-messages", OptionList)
        messages.display = True
        messages.focus()
        self.query_one("#picker-hint", Static).update(
            "Pick a message (newest first), then what to do."
        )
