"""Nothing is sent that was not meant: every path that gives a draft back.

After a refused command or post, or "Keep editing", the draft comes back so that the next
keys typed can never be glued onto it and sent together. Each test checks what the *other*
member received, through a real server.
"""

from __future__ import annotations

from typing import Any

from textual.widgets.text_area import Selection

from circle_client import events as ev
from circle_client.client import CircleClient
from circle_client.tui.app import CircleApp
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import ConfirmScreen, CrisisScreen
from circle_client.tui.widgets import Composer
from tests.conftest import ServerProcess

from .tui_support import enter_circle, facilitator, guest, make_app, transcript_texts, wait_for

SIZE = (110, 36)


async def next_post(client: CircleClient) -> str:
    """The body of the next message ``client`` receives."""
    message: ev.MessageReceived = await client.next_event(ev.MessageReceived)
    return message.content.body


async def type_and_send(pilot: Any, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


async def test_a_refused_command_comes_back_selected_and_new_typing_replaces_it(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        await type_and_send(pilot, "/reply 99 hi")
        await wait_for(pilot, lambda: composer.text == "/reply 99 hi", "the draft back")
        assert composer.selection == Selection((0, 0), composer.document.end)
        assert composer.cursor_location == composer.document.end
        assert composer.border_title == Composer.NOT_SENT
        await type_and_send(pilot, "hi, welcome to you too")
        assert await next_post(fac) == "hi, welcome to you too"
        assert composer.text == "" and not composer.border_title
    await fac.close()


async def test_an_arrow_key_keeps_a_refused_draft_for_editing(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        await type_and_send(pilot, "/me")
        await wait_for(pilot, lambda: composer.text == "/me", "the draft back")
        await pilot.press("end")  # keep it: the cursor is at its end, nothing is selected
        await type_and_send(pilot, " waves")
        assert await next_post(fac) == "waves"
    await fac.close()


async def test_a_post_refused_by_the_server_is_not_glued_to_the_next(
    server: ServerProcess,
) -> None:
    """Not your turn (F9): the draft is kept, and the next message goes out alone."""
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        other = await guest(server.url, fac, invite, "brave-finch")
        await fac.moderate("round_start", order=(other.session.member,))
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        await wait_for(pilot, lambda: bool(screen.round), "the go-around")
        composer = screen.query_one(Composer)
        await type_and_send(pilot, "I want to jump in")
        await wait_for(pilot, lambda: composer.text == "I want to jump in", "the draft back")
        assert composer.selection == Selection((0, 0), composer.document.end)
        await fac.moderate("round_end")
        await wait_for(pilot, lambda: not screen.round, "the end of the go-around")
        await type_and_send(pilot, "sorry, go on")
        assert await next_post(other) == "sorry, go on"
        await other.close()
    await fac.close()


async def test_a_refusal_while_a_new_message_is_being_written_never_merges(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        composer = screen.query_one(Composer)
        composer.text = "something new"
        screen.restore_draft("the old draft", refused=True)
        assert composer.text == "something new"
        assert any("Not sent" in t and "the old draft" in t for t in transcript_texts(app))
    await fac.close()


async def test_keep_editing_restores_the_whole_line_with_the_cursor_at_the_end(
    server: ServerProcess,
) -> None:
    """ "Keep editing" after the oversharing guard brings back the command too (``/cw``)."""
    fac, invite = await facilitator(server.url, auto_admit=True)
    app: CircleApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        draft = "/cw moving: I moved, reach me at 0612345678"
        await type_and_send(pilot, draft)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "send anyway?")
        await pilot.press("escape")
        await wait_for(pilot, lambda: composer.text == draft, "the draft back")
        assert composer.cursor_location == composer.document.end
        assert composer.selection.is_empty
        await pilot.press("ctrl+w")  # delete the last word, as a person editing would
        await pilot.press(*"the usual place")
        await pilot.press("enter")
        message: ev.MessageReceived = await fac.next_event(ev.MessageReceived)
        assert message.content.body == "I moved, reach me at the usual place"
        assert message.content.warning == "moving"
        await pilot.pause()
        assert not isinstance(app.screen, CrisisScreen)
    await fac.close()
