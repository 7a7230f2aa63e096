"""Snapshots of the screens a person sees (pytest-textual-snapshot).

The app is fed synthetic session events with a fixed clock, so every run draws the same
screen. Update after an intended change with ``pytest tests/client --snapshot-update``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from circle_client import events as ev
from circle_client.tui.app import CircleApp
from circle_client.tui.modals import CrisisScreen, HelpScreen
from circle_client.tui.screens import WaitingScreen
from circle_client.tui.widgets import Composer
from protocol.content import PostContent
from protocol.invite import Invite

NOW = 1_800_000_000.0
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
HANDLES = {1: "calm-heron", 2: "quiet-otter", 3: "gentle-lynx"}


@pytest.fixture(autouse=True)
def utc() -> Any:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


class FakeSession:
    ends_at = NOW + 42 * 60
    muted_until = 0.0
    member = 2
    lead = None
    closed = False
    round = (3, 2)  # the session's state after the RoundChanged and PhaseChanged below
    share_seconds = 120
    turn_started = NOW
    phase = "sharing"
    members = (  # the roster as the RosterChanged below shows it
        (1, "calm-heron", "facilitator"),
        (2, "quiet-otter", "member"),
        (3, "gentle-lynx", "member"),
    )
    locked = paused = resuming = False
    slow_seconds = 0

    def handle_of(self, member: int) -> str:
        return HANDLES.get(member, "someone")

    def fingerprint(self) -> str:
        return "1234 5678 9012 3456 7890"

    def role(self) -> str:
        return "facilitator" if self.lead is not None else "member"


class FakeClient:
    server_url = "ws://127.0.0.1:8765"

    def __init__(self, lead: bool = False) -> None:
        self.session = FakeSession()
        self.session.lead = object() if lead else None  # type: ignore[assignment]

    async def close(self) -> None:
        return None


def make_app() -> CircleApp:
    return CircleApp(clock=lambda: NOW, idle_lock_seconds=0, suggest=lambda: "quiet-otter")


def post(body: str, sender: int, seq: int, rseq: int, **kwargs: Any) -> ev.MessageReceived:
    """A message as the session reports it; ``rseq`` is the relay sequence (its number)."""
    content = PostContent(
        body=body,
        reply_to=kwargs.get("reply_to"),
        warning=kwargs.get("warning"),
        me=kwargs.get("me", False),
    )
    return ev.MessageReceived((sender, 1, seq), sender, HANDLES[sender], content, sender == 2, rseq)


CIRCLE_EVENTS: list[ev.Event] = [
    ev.RosterChanged(FakeSession.members, "1234 5678 9012 3456 7890"),
    ev.NoticeReceived("joined", 3, "gentle-lynx joined the circle", False),
    post("Welcome, everyone. We have about forty minutes tonight.", 1, 1, 4),
    post("I have not slept well since the move.\nThe boxes are still everywhere.", 3, 1, 5),
    post("Same here, the first month was the hardest.", 2, 1, 6, reply_to=(3, 1, 1)),
    ev.ReactionReceived((3, 1, 1), 1, "calm-heron", "i_hear_you"),
    post("what happened that night", 3, 2, 8, warning="self-harm"),
    post("takes a deep breath", 2, 2, 9, me=True),
    ev.Gap(3, "gentle-lynx", 1),
    ev.Pinned("Topic tonight: sleep and change", 1),
    ev.RoundChanged((3, 2), 3, 120),
    ev.PhaseChanged("sharing"),
]


async def setup_circle(app: CircleApp, lead: bool, events: list[ev.Event]) -> None:
    app.client = FakeClient(lead)  # type: ignore[assignment]
    app.circle_title = "Night owls"
    if lead:  # the facilitator's screen says where the invite is, never writing it out
        app.invite = Invite.create("ws://127.0.0.1:8765", b"\x01" * 16)
    app.enter_circle()
    for event in events:
        app.route(event)


def settle(lead: bool, extra: list[ev.Event] | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        await setup_circle(pilot.app, lead, CIRCLE_EVENTS + (extra or []))
        await pilot.pause()
        pilot.app.clear_notifications()  # toasts fade; the layout under them is what is kept
        pilot.app.screen.query_one(Composer).cursor_blink = False
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_join(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, press=["j"])


@pytest.mark.parametrize("size", SIZES)
def test_waiting_room(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        pilot.app.push_screen(WaitingScreen())
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_circle(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settle(lead=False))


@pytest.mark.parametrize("size", SIZES)
def test_facilitator_panel(snap_compare: Any, size: tuple[int, int]) -> None:
    extra: list[ev.Event] = [
        ev.KnockReceived(4, "brave-finch", "low"),
        ev.ConcernReceived(3, "gentle-lynx", (3, 1, 2), "this worries me"),
    ]
    assert snap_compare(make_app(), terminal_size=size, run_before=settle(lead=True, extra=extra))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        pilot.app.push_screen(HelpScreen("Samaritans 116 123 (UK and Ireland)", facilitator=False))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_crisis_before_sending(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        pilot.app.push_screen(
            CrisisScreen("Call or text 988 (US). Samaritans 116 123 (UK).", draft=True)
        )
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_open_form(snap_compare: Any, size: tuple[int, int]) -> None:
    """The Seats field is on screen and the form says where the circle will live."""
    assert snap_compare(make_app(), terminal_size=size, press=["o"])


ENDINGS = {
    "declined": "",
    "removed": "",
    "banned": "",
    "left": "",
    "ended": "time_up",
    "gone": "Could not reconnect to the server.",
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", list(ENDINGS))
def test_exit_screen(snap_compare: Any, size: tuple[int, int], kind: str) -> None:
    async def run_before(pilot: Any) -> None:
        pilot.app.end(kind, ENDINGS[kind])
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_message_picker(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(lead=False)(pilot)
        await pilot.press("f5")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
