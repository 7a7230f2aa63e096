"""Helpers for driving the TUI with Pilot against a real server process."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static

from circle_client import events as ev
from circle_client.client import CircleClient
from circle_client.tui.app import CircleApp
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.screens import JoinScreen, RulesScreen


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, steps: int = 500
) -> None:
    """Let the app run until ``condition`` holds (bounded; no fixed sleeps)."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def click(pilot: Pilot[Any], selector: str) -> None:
    """Click a widget on a screen that has just arrived: let it lay out first, then make sure
    the click landed on that widget (a click on a screen mid-switch hits nothing)."""
    await pilot.pause()
    assert await pilot.click(selector), f"the click on {selector} did not land"


async def facilitator(
    url: str, auto_admit: bool = False, **kwargs: Any
) -> tuple[CircleClient, str]:
    client = CircleClient(url)
    await client.connect()
    invite = await client.open_circle(
        handle="calm-heron",
        title=kwargs.pop("title", "Evening circle"),
        rules=kwargs.pop("rules", "Be gentle with each other."),
        auto_admit=auto_admit,
        **kwargs,
    )
    return client, str(invite)


async def guest(url: str, fac: CircleClient, invite: str, handle: str) -> CircleClient:
    client = CircleClient(url)
    await client.connect()
    await client.join(invite)
    await client.knock(handle)
    if not fac.session.auto_admit:
        knock = await fac.next_event(ev.KnockReceived)
        await fac.admit(knock.member)
    await client.next_event(ev.Admitted)
    return client


def circle_ready(app: Any) -> bool:
    """The circle screen is up and composed (its widgets exist), not only pushed."""
    return isinstance(app.screen, CircleScreen) and bool(app.screen.query("#composer"))


def transcript_texts(app: Any) -> list[str]:
    screen = app.circle_screen
    if screen is None:
        return []
    return [e.text for e in screen.transcript.recent(200)]


def make_app(**kwargs: object) -> CircleApp:
    kwargs.setdefault("idle_lock_seconds", 0)
    kwargs.setdefault("local_port", 0)
    kwargs.setdefault("suggest", lambda: "quiet-otter")
    return CircleApp(**kwargs)  # type: ignore[arg-type]


async def join_through_tui(pilot, app: CircleApp, invite: str, handle: str = "quiet-otter") -> None:  # type: ignore[no-untyped-def]
    await pilot.press("j")
    await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
    app.screen.query_one("#invite", Input).value = invite
    app.screen.query_one("#handle", Input).value = handle
    await pilot.click("#continue")
    await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the ground rules")


async def enter_circle(pilot, app: CircleApp, invite: str, handle: str = "quiet-otter") -> None:  # type: ignore[no-untyped-def]
    """Join, accept the rules and (auto-admitted) arrive in the circle."""
    await join_through_tui(pilot, app, invite, handle)
    await click(pilot, "#accept")
    await wait_for(pilot, lambda: circle_ready(app), "the circle")


async def enter_by_keyboard(pilot, app: CircleApp, invite: str, handle: str) -> None:  # type: ignore[no-untyped-def]
    """The same with keys only, as a person without a mouse would (and as two apps running
    side by side in one test need: a simulated click goes to the app started last)."""
    await pilot.press("j")
    await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
    app.screen.query_one("#invite", Input).value = invite
    name = app.screen.query_one("#handle", Input)
    name.value = handle
    name.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the ground rules")
    await pilot.pause()
    await pilot.press("enter")  # "I accept" has the focus
    await wait_for(pilot, lambda: circle_ready(app), "the circle")


SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>'
)


def screen_text(app: Any) -> str:
    """What the screen shows now, as plain lines of text (from Textual's SVG export), to
    check that words are on screen whole rather than cut off."""
    rows: dict[int, list[tuple[float, str]]] = {}
    for match in SVG_TEXT.finditer(app.export_screenshot()):
        x, line, text = float(match[1]), int(match[2]), match[3]
        rows.setdefault(line, []).append((x, html.unescape(text).replace("\xa0", " ")))
    return "\n".join(
        "".join(t for _, t in sorted(parts)).rstrip() for _, parts in sorted(rows.items())
    )


def flat(text: str) -> str:
    """Words only: wrapping, borders and padding removed, for "is the sentence whole?"."""
    return " ".join(re.sub(r"[│╭╮╰╯─▊▎▔▁]", " ", text).split())


def static_text(widget: Static, width: int = 100) -> str:
    """All the text a Static holds (a table too), whether or not it is scrolled into view."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()
