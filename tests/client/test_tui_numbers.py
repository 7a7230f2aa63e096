"""One numbering for everyone: a message has the same number on every
member's screen, taken from the relay sequence, and local lines take no number."""

from __future__ import annotations

from circle_client import events as ev
from circle_client.transcript import Entry
from circle_client.tui.app import CircleApp
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.widgets import Composer
from tests.conftest import ServerProcess

from .tui_support import enter_by_keyboard, facilitator, make_app, wait_for

SIZE = (110, 36)


def entries(app: CircleApp) -> list[Entry]:
    screen = app.circle_screen
    assert screen is not None
    return screen.transcript.recent(500)


def numbers(app: CircleApp) -> dict[tuple[int, int, int], int | None]:
    return {e.id: e.number for e in entries(app) if e.id is not None}


async def test_the_same_message_has_the_same_number_on_every_screen(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    first, second = make_app(), make_app(suggest=lambda: "brave-finch")
    async with first.run_test(size=SIZE) as one, second.run_test(size=SIZE) as two:
        await enter_by_keyboard(one, first, invite, "quiet-otter")
        await one.press("ctrl+f")  # a local fingerprint line on one screen only
        # The second arrives later: the first sees a notice that it joined, it does not.
        await enter_by_keyboard(two, second, invite, "brave-finch")
        sent = [await fac.post("welcome, both of you")]
        await fac.react(sent[0], "thank_you")  # takes a relay sequence too
        for pilot, text in ((one, "thank you"), (two, "glad to be here")):
            await pilot.press(*text)
            await pilot.press("enter")
            message: ev.MessageReceived = await fac.next_event(ev.MessageReceived)
            while message.content.body != text:
                message = await fac.next_event(ev.MessageReceived)
            sent.append(message.id)
        for pilot, app in ((one, first), (two, second)):
            await wait_for(pilot, lambda app=app: set(sent) <= set(numbers(app)), "all three")
        assert numbers(first) == numbers(second)
        shown = [numbers(first)[m] for m in sent]
        assert all(n is not None for n in shown) and shown == sorted(shown)
        # Local lines (fingerprint, join notices) take no number, on either screen.
        for app in (first, second):
            local = [e for e in entries(app) if e.kind != "message"]
            assert local and all(e.number is None for e in local)
        # A command names the message by the number everyone sees: /react on the second
        # screen lands on the message the first screen shows with that number.
        composer = second.screen.query_one(Composer)
        composer.text = f"/react {shown[1]} hear"
        await two.press("enter")
        reaction: ev.ReactionReceived = await fac.next_event(ev.ReactionReceived)
        while reaction.reaction != "i_hear_you":
            reaction = await fac.next_event(ev.ReactionReceived)
        assert reaction.target == sent[1]
        screen = first.circle_screen
        assert isinstance(screen, CircleScreen)
        await wait_for(
            one,
            lambda: bool(screen.transcript.entry_for(sent[1]).reactions),  # type: ignore[union-attr]
            "the reaction on the first screen",
        )
    await fac.close()


async def test_local_lines_take_no_number_in_the_model() -> None:
    """The model alone: numbers come from the event's relay sequence, never from lines."""
    from circle_client.transcript import Transcript

    shown = Transcript(clock=lambda: 0.0)
    shown.add_notice("Circle fingerprint: 1234")
    entry = shown.add_message((2, 1, 1), 2, "quiet-otter", "hello", number=17)
    shown.add_notice("brave-finch joined the circle")
    assert entry.number == 17 and shown.find(17) is entry and shown.find(1) is None
    assert [e.number for e in shown.recent(5)] == [None, 17, None]
