"""The circle screen's side column: who is here, the waiting room, concerns, the pinned note.

It shows what the circle screen gives it and keeps only what it shows: the screen decides
what a roster or a knock means.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static

from circle_client.tui.widgets import WaitingRoom

ROLE_MARKS = {"facilitator": " (facilitator)", "co": " (co-facilitator)"}
CONCERNS_SHOWN = 8


ROOM_KEYS = "Enter admits · d declines"
ROOM_KEYS_SHORT = "Enter: yes · d: no"


class SidePanel(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.concerns: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="members")
        yield WaitingRoom(id="waiting-room")
        yield Static("", id="inbox")
        yield Static("", id="pinned")

    def on_mount(self) -> None:
        self.query_one("#members", Static).border_title = "In the circle"
        room = self.query_one(WaitingRoom)
        room.border_title = "Waiting room"
        room.border_subtitle = ROOM_KEYS
        self.query_one("#inbox", Static).border_title = "Concerns"
        self.query_one("#pinned", Static).border_title = "Pinned"

    def on_resize(self, event: events.Resize) -> None:
        """The waiting room's keys, whole: in short words when the panel is narrow."""
        fits = event.size.width >= len(ROOM_KEYS) + 4  # two corners and two spaces
        self.query_one(WaitingRoom).border_subtitle = ROOM_KEYS if fits else ROOM_KEYS_SHORT

    def show_members(
        self,
        roster: Iterable[tuple[int, str, str]],
        me: int | None,
        speaking: int | None,
        hidden: set[int],
    ) -> None:
        lines = []
        for member, handle, role in roster:
            you = " (you)" if member == me else ""
            talk = " ◀ sharing" if member == speaking else ""
            muted = " [hidden]" if member in hidden else ""
            lines.append(f"{handle}{ROLE_MARKS.get(role, '')}{you}{talk}{muted}")
        self.query_one("#members", Static).update("\n".join(lines))

    def show_role(self, lead: bool, facilitating: bool) -> None:
        """The waiting room is the lead's; concerns reach every facilitator."""
        self.query_one(WaitingRoom).display = lead
        self.query_one("#inbox").display = facilitating

    @property
    def waiting_room(self) -> WaitingRoom:
        return self.query_one(WaitingRoom)

    def add_knock(self, member: int, handle: str) -> None:
        self.waiting_room.add_knock(member, handle)

    def remove_knock(self, member: int) -> None:
        room = self.waiting_room
        try:
            index = room.get_option_index(str(member))
        except Exception:  # noqa: BLE001 - OptionDoesNotExist across Textual versions
            return
        room.remove_option_at_index(index)

    def add_concern(self, line: str) -> None:
        self.concerns.append(line)
        self.query_one("#inbox", Static).update("\n".join(self.concerns[-CONCERNS_SHOWN:]))

    def show_pinned(self, body: str) -> None:
        self.query_one("#pinned", Static).update(body)

    def wipe(self) -> None:
        self.concerns = []
        for box in ("#members", "#inbox", "#pinned"):
            self.query_one(box, Static).update("")
        self.query_one("#waiting-room", OptionList).clear_options()
