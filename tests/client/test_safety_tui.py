"""The crisis prompt in the TUI: the host's phrases, once per draft, and the person's opt-out."""

from __future__ import annotations

from circle_client import events as ev
from circle_client.tui.app import CircleApp
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import CrisisScreen
from circle_client.tui.widgets import Composer
from tests.conftest import start_server

from .test_tui import SIZE, enter_circle, make_app
from .tui_support import facilitator, transcript_texts, wait_for

HOST_PHRASE = "rhoi'r gorau i bopeth"


async def turn_check(pilot, app: CircleApp, state: str, note: str) -> None:  # type: ignore[no-untyped-def]
    """Type ``/riskcheck STATE`` and wait for the note that confirms it."""
    app.screen.query_one(Composer).text = f"/riskcheck {state}"
    await pilot.press("enter")
    await wait_for(pilot, lambda: any(note in t for t in transcript_texts(app)), note)


async def test_prompt_once_per_draft_host_phrases_and_opt_out() -> None:
    server = start_server(env={"CIRCLE_RISK_PHRASES": HOST_PHRASE})
    try:
        fac, invite = await facilitator(server.url, auto_admit=True)
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await enter_circle(pilot, app, invite)
            screen = app.screen
            composer = screen.query_one(Composer)
            draft = "dw i eisiau rhoi'r gorau i bopeth"  # only the host's phrase says so
            composer.text = draft
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "the prompt")
            await pilot.press("escape")  # the default: keep editing
            await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "back")
            assert composer.text == draft
            # The same draft again: no second prompt, it goes to the circle.
            await pilot.press("enter")
            msg = await fac.next_event(ev.MessageReceived)
            assert msg.content.body == draft
            assert not isinstance(app.screen, CrisisScreen)
            # A new draft is a new chance to be asked ...
            composer.text = "some nights I want to die"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "a new prompt")
            await pilot.click("#send")
            msg = await fac.next_event(ev.MessageReceived)
            assert msg.content.body == "some nights I want to die"
            # ... unless the person turned the check off for this circle.
            await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "back again")
            await turn_check(pilot, app, "off", "is off for this circle")
            composer.text = "I want to die, I just need to say it here"
            await pilot.press("enter")
            msg = await fac.next_event(ev.MessageReceived)
            assert msg.content.body == "I want to die, I just need to say it here"
            assert not isinstance(app.screen, CrisisScreen)
            await turn_check(pilot, app, "on", "drafts is on")
            composer.text = "I want to die"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "on again")
        await fac.close()
    finally:
        server.stop()
