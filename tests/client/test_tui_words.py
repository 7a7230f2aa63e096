"""Words: exit screens that say what really happened and what to do next,
errors as whole sentences in plain words, written into the transcript too."""

from __future__ import annotations

import pytest
from textual.screen import ModalScreen
from textual.widgets import Static

from circle_client import events as ev
from circle_client.session import Session
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import HelpScreen
from circle_client.tui.picker import MessagePicker
from circle_client.tui.screens import EndedScreen, HomeScreen, JoinScreen
from circle_client.tui.widgets import NUMBER_WIDTH, Composer, TranscriptView
from circle_client.tui.wording import GENTLE, ending, plain_error, status_line
from protocol.limits import MAX_BODY
from tests.conftest import ServerProcess, start_server

from .tui_support import (
    click,
    enter_circle,
    facilitator,
    flat,
    join_through_tui,
    make_app,
    screen_text,
    static_text,
    transcript_texts,
    wait_for,
)

SIZE = (120, 36)
TEXT_COLUMN = NUMBER_WIDTH + 1 + 5 + 1
"""Where the words start on a transcript line: after the number and the time."""


def test_internal_names_become_plain_words() -> None:
    text = plain_error("PostContent.body: longer than 15872 bytes of UTF-8")
    assert "PostContent" not in text and "UTF-8" not in text and "too long" in text
    text = plain_error(
        "Could not reach a Circle server at ws://127.0.0.1:9 (ConnectionRefusedError). "
        "Check the address, or that the server is running."
    )
    assert "Error" not in text and text.endswith("the server is running.")
    assert plain_error("not your turn") == "Not your turn."


def test_every_ending_has_its_own_words() -> None:
    kinds = ("declined", "removed", "banned", "left", "ended", "gone")
    titles = {ending(kind).title for kind in kinds}
    assert len(titles) == len(kinds)
    assert all(ending(kind).next for kind in kinds)
    assert ending("ended", "time_up").what == "The circle's time is up."
    assert "ended" not in ending("declined").title.lower()


async def ended_with(pilot, app, title: str) -> EndedScreen:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the exit screen")
    screen = app.screen
    assert isinstance(screen, EndedScreen) and screen.end.title == title
    await pilot.pause()
    shown = flat(screen_text(app))
    assert flat(screen.end.what) in shown and flat(screen.end.next) in shown
    assert flat(GENTLE) in shown and "988" in shown  # the crisis resources, every time
    return screen


async def test_declined_says_so_not_ended(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await join_through_tui(pilot, app, invite)
        await click(pilot, "#accept")
        knock: ev.KnockReceived = await fac.next_event(ev.KnockReceived)
        await fac.decline(knock.member)
        await ended_with(pilot, app, "You were not let in this time")
    await fac.close()


@pytest.mark.parametrize(
    ("action", "title"),
    [
        ("remove", "You were removed from the circle"),
        ("ban", "You cannot come back to this circle"),
    ],
)
async def test_removed_and_banned_say_which(server: ServerProcess, action: str, title: str) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        await fac.moderate(action, target=screen.session.member)
        await ended_with(pilot, app, title)
    await fac.close()


async def test_leaving_and_a_server_shutting_down(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        app.screen.query_one(Composer).text = "/leave okay"
        await pilot.press("enter")
        await ended_with(pilot, app, "You left the circle")
    await fac.close()
    other = start_server()
    fac, invite = await facilitator(other.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        other.stop()
        screen = await ended_with(pilot, app, "The circle has ended")
        assert "shutting down" in screen.end.what
    await fac.close()


async def test_an_error_is_a_whole_sentence_in_the_transcript(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        composer.text = "x" * (MAX_BODY + 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("too long" in t for t in transcript_texts(app)), "it")
        line = next(t for t in transcript_texts(app) if "too long" in t)
        assert line.endswith("Split it into a few messages.") and "Content" not in line
        view = app.screen.query_one(TranscriptView)
        drawn = " ".join(strip.text[TEXT_COLUMN:] for strip in view.lines)
        assert flat(line) in flat(drawn)  # wrapped in the transcript, not cut off
    await fac.close()


async def test_an_unreachable_server_error_fits_on_the_join_screen() -> None:
    probe = start_server()
    fac, invite = await facilitator(probe.url)
    await fac.close()
    probe.stop()  # nothing listens there now
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        app.screen.query_one("#invite").value = invite  # type: ignore[attr-defined]
        await click(pilot, "#continue")
        error = app.screen.query_one("#error")
        await wait_for(pilot, lambda: "running" in str(error.render()), "the error")
        text = str(error.render())
        assert "Error)" not in text and text.endswith("the server is running.")
        assert flat(text) in flat(screen_text(app))


async def test_help_shows_optional_arguments_as_written() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        shown = static_text(app.screen.query_one("#help-commands", Static))
        assert "/unfilter [WORD]" in shown and "/leave [MOOD]" in shown


async def test_resizing_rewraps_and_continuation_lines_stay_indented(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    long = "I keep thinking about the move and how everything changed so quickly. " * 3
    async with app.run_test(size=(80, 30)) as pilot:
        await enter_circle(pilot, app, invite)
        await fac.post(long.strip() + "\nand a second line")
        await wait_for(pilot, lambda: any("second line" in t for t in transcript_texts(app)), "")
        view = app.screen.query_one(TranscriptView)
        await pilot.pause()
        narrow = [strip.text for strip in view.lines]
        start = next(i for i, line in enumerate(narrow) if "calm-heron:" in line)
        following = narrow[start + 1 : start + 4]
        assert all(line[:TEXT_COLUMN].strip() == "" and line.strip() for line in following)
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        await pilot.pause()
        wide = [strip.text for strip in view.lines]
        assert len(wide) < len(narrow)  # re-wrapped to the new width, not kept as drawn
        assert max(len(line.rstrip()) for line in wide) > 80
    await fac.close()


def test_members_have_distinct_colours_and_the_handle_is_always_written() -> None:
    from circle_client.transcript import Transcript
    from circle_client.tui.widgets import entry_words, member_style

    styles = {member_style(member, False) for member in range(1, 8)}
    assert len(styles) == 7
    transcript = Transcript(clock=lambda: 0.0)
    entry = transcript.add_message((3, 1, 1), 3, "gentle-lynx", "hello", number=4)
    words = entry_words(entry, transcript)
    assert words.plain.startswith("gentle-lynx: ")
    assert member_style(3, False) in {str(span.style) for span in words.spans}


def test_the_status_line_comes_from_the_session_alone() -> None:
    """A screen built afresh (after a resize, a resume) says the same: it keeps no copy."""
    session = Session(clock=lambda: 1_000.0)
    session.ends_at = 1_000.0 + 600
    session.locked, session.slow_seconds, session.paused = True, 30, True
    session.round, session.share_seconds, session.turn_started = (7, 8), 120, 1_000.0 - 20
    line = status_line("Evening", session, 1_000.0, None)
    assert line.startswith("Evening  ·  10:00 left  ·  Go-around: someone is sharing (1:40 left)")
    for part in ("locked", "slow mode: one message every 30 s", "admissions paused"):
        assert part in line
    assert "reconnecting" not in line
    session.locked, session.slow_seconds, session.paused, session.round = False, 0, False, ()
    assert status_line("Evening", session, 1_000.0, None) == "Evening  ·  10:00 left"


async def test_an_ending_closes_an_open_dialog_and_leaves_no_circle_screen_behind(
    server: ServerProcess,
) -> None:
    """A dialog open when the circle ends (here the message picker) goes with it: the closing
    screen is on top, and nothing of the circle is left underneath."""
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        await fac.post("something to act on")
        await wait_for(pilot, lambda: bool(transcript_texts(app)), "a message")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, MessagePicker), "the picker")
        await fac.moderate("close")
        await ended_with(pilot, app, "The circle has ended")
        assert not [s for s in app.screen_stack if isinstance(s, CircleScreen | ModalScreen)]
        await pilot.press("h")  # back to the start, as the closing screen offers
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "the home screen")
    await fac.close()
