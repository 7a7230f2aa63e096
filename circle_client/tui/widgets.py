"""Widgets of the circle screen: the composer and the transcript view."""

from __future__ import annotations

import time

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList, RichLog, TextArea
from textual.widgets.option_list import Option

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

    class PageRequested(Message):
        """PageUp/PageDown in the composer: the person wants to read the transcript."""

        def __init__(self, down: bool) -> None:
            super().__init__()
            self.down = down

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

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if not self.text:
            self.border_title = None  # an emptied draft is no longer "not sent"

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.border_title = None
                self.post_message(self.Submitted(self.text))
            return
        if event.key in ("pageup", "pagedown"):
            event.stop()
            event.prevent_default()
            self.post_message(self.PageRequested(event.key == "pagedown"))
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
    """The facilitator's queue of knocks: Enter admits the highlighted one, d declines it.
    The first knock is highlighted as soon as it arrives, so F3 then Enter admits it."""

    BINDINGS = [Binding("d", "decline", "Decline knock")]

    def add_knock(self, member: int, handle: str) -> None:
        self.add_option(Option(handle, id=str(member)))
        if self.highlighted is None:
            self.highlighted = 0

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


MEMBER_COLOURS = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#CC79A7",  # reddish purple
    "#D55E00",  # vermillion
    "#5DA5DA",  # a lighter blue, readable on a dark background
)
"""Okabe and Ito's colour-blind-safe palette. Member ids are the same on every screen, so a
member has the same colour for everyone; the handle is always written out too (colour is
never the only cue)."""

NUMBER_WIDTH = 5
"""Room for ``#9999``: the relay sequence of a long evening."""

KIND_STYLES = {
    "notice": "italic cyan",
    "gap": "bold yellow",
    "system": "italic magenta",
    "error": "bold #D55E00",
}


def member_style(sender: int | None, mine: bool) -> str:
    colour = MEMBER_COLOURS[(sender or 0) % len(MEMBER_COLOURS)]
    return f"bold {colour}" + (" underline" if mine else "")


def render_entry(entry: Entry, transcript: Transcript) -> Table:
    """One transcript line as a grid: number, time, then the words in their own column, so
    continuation lines of multi-line or wrapped messages stay indented under the words."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=NUMBER_WIDTH, no_wrap=True)
    grid.add_column(width=5, no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    number = f"#{entry.number}" if entry.kind == "message" and entry.number else ""
    stamp = time.strftime("%H:%M", time.localtime(entry.at))
    grid.add_row(
        Text(number, style="dim"), Text(stamp, style="dim"), entry_words(entry, transcript)
    )
    return grid


class Drawn:
    """A rendered line that remembers which message it shows, so that the view knows which
    message a click landed on (RichLog keeps only the drawn lines). It survives RichLog's
    deferred writes, since it is the content itself."""

    def __init__(self, table: Table, number: int | None) -> None:
        self.table = table
        self.number = number

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


def drawn(entry: Entry, transcript: Transcript) -> Drawn:
    number = entry.number if entry.kind == "message" and not entry.retracted else None
    return Drawn(render_entry(entry, transcript), number)


def entry_words(entry: Entry, transcript: Transcript) -> Text:
    """The words of a line, styled; personal filters and content warnings applied."""
    if entry.kind == "marker":
        return Text(f"── {entry.text} ──", style="bold reverse")
    if entry.kind in KIND_STYLES:
        return Text(entry.text, style=KIND_STYLES[entry.kind])
    name_style = member_style(entry.sender, entry.mine)
    line = Text()
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
        shown = f"↪ #{target.number} " if target and target.number else "↪ (earlier) "
        line.append(shown, style="dim")
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
    """Renders the model; appends new lines, redraws only the recent window when needed.

    Reading back stays put: a line that arrives while the view is scrolled up does not move
    it, and the border says how many new messages wait below. A resize re-wraps every line.
    A click on a message picks it (:class:`Picked`): the circle screen offers what to do.
    """

    BINDINGS = [Binding("enter", "screen.pick_message", "Act on a message")]

    class Picked(Message):
        """A message was clicked: ``number`` is its number, as everyone sees it."""

        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    class Typed(Message):
        """A key typed while the transcript has the focus: it belongs in the composer."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def __init__(self, transcript: Transcript, *, id: str | None = None) -> None:
        super().__init__(max_lines=RENDER_WINDOW * 2, wrap=True, markup=False, min_width=20, id=id)
        self.transcript = transcript
        self.unread = 0
        self.drawn_width = 0
        self.following = True
        """At the newest line: new lines scroll into view. False while the person reads back."""
        self.owners: list[int | None] = []
        """For each drawn line, the number of the message it shows (None for notices)."""

    @property
    def at_end(self) -> bool:
        return self.max_scroll_y == 0 or self.scroll_offset.y >= self.max_scroll_y

    def append(self, entry: Entry) -> None:
        follow = self.following
        self.write(drawn(entry, self.transcript), expand=True, shrink=True, scroll_end=follow)
        if not follow and entry.kind == "message":
            self.unread += 1
            self.show_unread()

    def write(
        self,
        content: object,
        width: int | None = None,
        expand: bool = False,
        shrink: bool = True,
        scroll_end: bool | None = None,
        animate: bool = False,
    ) -> TranscriptView:
        """RichLog's write, keeping :attr:`owners` in step with the lines drawn."""
        before = self._start_line + len(self.lines)
        super().write(content, width, expand, shrink, scroll_end, animate)
        added = self._start_line + len(self.lines) - before
        self.owners.extend([getattr(content, "number", None)] * added)
        del self.owners[: max(0, len(self.owners) - len(self.lines))]
        return self

    def number_at(self, y: int) -> int | None:
        """The message shown on line ``y`` of the view (0 is the top one showing), if any."""
        line = y + int(self.scroll_offset.y)
        return self.owners[line] if 0 <= line < len(self.owners) else None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        number = self.number_at(offset.y) if offset is not None else None
        if number is not None:
            event.stop()
            self.post_message(self.Picked(number))

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(event.character))

    def show_unread(self) -> None:
        plural = "s" if self.unread != 1 else ""
        self.border_subtitle = (
            f"▼ {self.unread} new message{plural} below · PageDown reads on"
            if self.unread
            else None
        )

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.following = self.at_end
        if self.unread and self.following:
            self.unread = 0
            self.show_unread()

    def on_resize(self, event: events.Resize) -> None:
        """Re-wrap at the new width (RichLog keeps lines as drawn, so redraw from the model);
        a view that was following the newest line keeps following it."""
        width = event.size.width
        if self._size_known and self.drawn_width and width != self.drawn_width:
            self.redraw()
        elif self.following:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)
        self.drawn_width = width

    def redraw(self) -> None:
        at_end, y = self.following, self.scroll_offset.y
        self.clear()
        for entry in self.transcript.recent(RENDER_WINDOW):
            self.write(drawn(entry, self.transcript), expand=True, shrink=True, scroll_end=False)
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(y=y, animate=False, immediate=True)

    def clear(self) -> TranscriptView:
        self.unread = 0
        self.owners = []
        self.show_unread()
        super().clear()
        return self
