"""Widgets of the circle screen: the composer and the transcript view."""

from __future__ import annotations

import time

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList, RichLog, TextArea

from circle_client.commands import completions
from circle_client.transcript import Entry, Transcript, reaction_summary

RENDER_WINDOW = 400
"""Entries drawn when the whole view is redrawn (a retraction, a filter, an opened warning)."""


class Composer(TextArea):
    """Multi-line draft: Enter sends, Ctrl+J adds a line, Tab completes a /command and the
    fixed word some commands take (``/phase sh`` -> ``/phase sharing``)."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    facilitator = False

    NOT_SENT = "Not sent · Enter tries again · typing replaces it · arrows edit it"

    def restore(self, draft: str, *, refused: bool) -> bool:
        """Put a draft that did not go out back, so that nothing new can be glued onto it.

        A refused draft comes back selected with the cursor at its end: the next key typed
        replaces it (Ctrl+Z brings it back), an arrow key keeps it for editing. A draft the
        person chose to keep editing comes back as it was, cursor at the end. If the person
        has already started something new, nothing is put back (returns False) so the two can
        never be sent as one.
        """
        if self.text.strip():
            return False
        self.text = draft
        if refused:
            self.select_all()
            self.border_title = self.NOT_SENT
        else:
            self.move_cursor(self.document.end)
        return True

    def clear_draft(self) -> None:
        self.text = ""
        self.border_title = None

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.border_title = None
                self.post_message(self.Submitted(self.text))
            return
        if event.key in ("ctrl+j", "shift+enter"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        found = completions(self.text, self.facilitator) if event.key == "tab" else None
        if found is not None:
            event.stop()
            event.prevent_default()
            head, options = found
            if len(options) == 1:
                self.text = f"{head}{options[0]}{' ' if head == '/' else ''}"
                self.move_cursor(self.document.end)
            elif options:
                self.notify("  ".join(f"{head}{o}" for o in options), timeout=4)
            return
        await super()._on_key(event)


class WaitingRoom(OptionList):
    """The facilitator's queue of knocks: Enter admits the highlighted one, d declines it."""

    BINDINGS = [Binding("d", "decline", "Decline knock")]

    class DeclineRequested(Message):
        def __init__(self, member: int) -> None:
            super().__init__()
            self.member = member

    def action_decline(self) -> None:
        if self.highlighted is None:
            return
        option = self.get_option_at_index(self.highlighted)
        if option.id is not None:
            self.post_message(self.DeclineRequested(int(option.id)))


def render_entry(entry: Entry, transcript: Transcript) -> Text:
    stamp = time.strftime("%H:%M", time.localtime(entry.at))
    line = Text(f"#{entry.number:<4}", style="dim")
    line.append(f"{stamp} ", style="dim")
    if entry.kind == "notice":
        line.append(entry.text, style="italic cyan")
        return line
    if entry.kind == "gap":
        line.append(entry.text, style="bold yellow")
        return line
    if entry.kind == "system":
        line.append(entry.text, style="italic magenta")
        return line
    name_style = "bold green" if entry.mine else "bold"
    if entry.retracted:
        line.append(f"{entry.handle} took back a message", style="dim italic")
        return line
    hidden = transcript.hidden(entry)
    if hidden:
        line.append(f"{entry.handle}: ", style=name_style)
        line.append(f"[hidden: {hidden}; /open {entry.number} to show]", style="dim")
        return line
    if entry.reply_to is not None:
        target = transcript.entry_for(entry.reply_to)
        line.append(f"↪ #{target.number} " if target else "↪ (earlier) ", style="dim")
    if entry.warning and not entry.opened:
        line.append(f"{entry.handle}: ", style=name_style)
        line.append(
            f"[content warning: {entry.warning}; /open {entry.number} to read]", style="yellow"
        )
        return line
    if entry.warning:
        line.append(f"[CW: {entry.warning}] ", style="yellow")
    if entry.me_action:
        line.append(f"* {entry.handle} ", style=name_style)
        line.append(entry.text, style="italic")
    else:
        line.append(f"{entry.handle}: ", style=name_style)
        line.append(entry.text)
    line.append(reaction_summary(entry), style="magenta")
    return line


class TranscriptView(RichLog):
    """Renders the model; appends new lines, redraws only the recent window when needed."""

    def __init__(self, transcript: Transcript, *, id: str | None = None) -> None:
        super().__init__(max_lines=RENDER_WINDOW * 2, wrap=True, markup=False, min_width=20, id=id)
        self.transcript = transcript

    def append(self, entry: Entry) -> None:
        self.write(render_entry(entry, self.transcript))

    def redraw(self) -> None:
        self.clear()
        for entry in self.transcript.recent(RENDER_WINDOW):
            self.write(render_entry(entry, self.transcript))
