"""Keystrokes are not lost: typing always reaches the composer, the
transcript can be read back from the keyboard without being yanked to the bottom, and a
facilitator admits a knock with two keys."""

from __future__ import annotations

from circle_client import events as ev
from circle_client.client import CircleClient
from circle_client.transcript import Transcript
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import LockScreen
from circle_client.tui.picker import MessagePicker, actions, summary
from circle_client.tui.widgets import Composer, TranscriptView, WaitingRoom
from tests.conftest import ServerProcess

from .tui_support import (
    circle_ready,
    enter_circle,
    facilitator,
    make_app,
    transcript_texts,
    wait_for,
)

SIZE = (110, 36)


async def test_typing_while_the_transcript_has_focus_reaches_the_composer(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        app.screen.query_one(TranscriptView).focus()
        await pilot.press(*"hello")
        composer = app.screen.query_one(Composer)
        assert composer.text == "hello" and composer.has_focus
        await pilot.press("enter")
        message: ev.MessageReceived = await fac.next_event(ev.MessageReceived)
        assert message.content.body == "hello"
    await fac.close()


async def test_reading_back_stays_put_and_counts_the_new_messages(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        await pilot.resize_terminal(100, 15)  # a short window: a few lines fill it
        for n in range(8):  # well under the server's burst limit
            await fac.post(f"line {n}")
        await wait_for(pilot, lambda: "line 7" in transcript_texts(app), "eight lines")
        view = app.screen.query_one(TranscriptView)
        await wait_for(pilot, lambda: view.max_scroll_y > 0 and view.at_end, "the end")
        await pilot.press("pageup")  # in the composer: the transcript scrolls
        await pilot.pause()
        assert app.screen.query_one(Composer).has_focus
        assert not view.at_end and not view.following
        where = view.scroll_offset.y
        await fac.post("a new one")
        await fac.post("and another")
        await wait_for(pilot, lambda: "and another" in transcript_texts(app), "new lines")
        await pilot.pause()
        assert view.scroll_offset.y == where  # not yanked to the bottom
        assert view.border_subtitle is not None and "2 new messages below" in view.border_subtitle
        for _ in range(10):
            await pilot.press("pagedown")
        await pilot.pause()
        assert view.at_end and view.border_subtitle is None
    await fac.close()


async def test_an_unread_marker_shows_what_came_during_the_idle_lock(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        await fac.post("before the lock")
        await wait_for(pilot, lambda: "before the lock" in transcript_texts(app), "a message")
        app.idle_lock_seconds = 60
        app.last_activity -= 120
        app._check_idle()
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the lock")
        await fac.post("while you were away")
        await fac.post("and this too")
        await wait_for(pilot, lambda: "and this too" in transcript_texts(app), "the messages")
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "the circle again")
        texts = transcript_texts(app)
        marker = texts.index("new since you were away")
        assert texts.index("before the lock") < marker < texts.index("while you were away")
        assert texts.count("new since you were away") == 1
        await fac.post("after coming back")
        await wait_for(pilot, lambda: "after coming back" in transcript_texts(app), "later")
        assert transcript_texts(app).count("new since you were away") == 1
    await fac.close()


async def test_quit_is_in_the_footer() -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        shown = {k: a.binding for k, a in app.screen.active_bindings.items()}
        assert shown["ctrl+q"].description == "Quit" and shown["ctrl+q"].show


async def test_f3_then_enter_admits_the_first_knock(server: ServerProcess) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Evening", "handle": "calm-heron"},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        await wait_for(pilot, lambda: app.invite is not None, "the invite")
        member = CircleClient(server.url)
        await member.connect()
        await member.join(str(app.invite))
        await member.knock("gentle-lynx")
        room = app.screen.query_one(WaitingRoom)
        await wait_for(pilot, lambda: room.option_count == 1, "the knock")
        assert "f3" in app.screen.active_bindings
        await pilot.press("f3", "enter")
        admitted: ev.Admitted = await member.next_event(ev.Admitted)
        assert admitted.member
        await wait_for(pilot, lambda: room.option_count == 0, "the room to empty")
        assert app.screen.query_one(Composer).has_focus
        await member.close()


async def test_acting_on_a_message_without_typing_its_number(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        sent = await fac.post("it has been a long week")
        await wait_for(pilot, lambda: "it has been a long week" in transcript_texts(app), "it")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, MessagePicker), "the picker")
        await pilot.press("enter")  # the newest message is highlighted
        await pilot.press("down", "enter")  # Reply, then React: I hear you
        reaction: ev.ReactionReceived = await fac.next_event(ev.ReactionReceived)
        assert (reaction.target, reaction.reaction) == (sent, "i_hear_you")
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        app.screen.query_one(TranscriptView).focus()
        await pilot.press("enter")  # Enter in the transcript opens the picker too
        await wait_for(pilot, lambda: isinstance(app.screen, MessagePicker), "the picker")
        await pilot.press("enter", "enter")  # that message, Reply
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        composer = app.screen.query_one(Composer)
        assert composer.has_focus and composer.text.startswith("/reply ")
        await pilot.press(*"me too")
        await pilot.press("enter")
        reply: ev.MessageReceived = await fac.next_event(ev.MessageReceived)
        while reply.content.body != "me too":
            reply = await fac.next_event(ev.MessageReceived)
        assert reply.content.reply_to == sent
    await fac.close()


def test_the_picker_never_shows_what_the_readers_settings_hide() -> None:
    """A filtered message, a hidden person's message and one under a content warning are
    listed without their words; the filtered one can be opened, the hidden person shown
    again; the warned one opened."""
    transcript = Transcript(clock=lambda: 0.0)
    transcript.filters.add("funeral")
    filtered = transcript.add_message(
        (2, 1, 1), 2, "brave-finch", "the funeral is friday", number=3
    )
    hid = transcript.add_message((3, 1, 1), 3, "kind-hare", "my sister called", number=4)
    warned = transcript.add_message(
        (2, 1, 2), 2, "brave-finch", "it was bad", warning="grief", number=5
    )
    transcript.muted.add(3)
    lines = {e.number: summary(e, transcript.hidden(e)) for e in (filtered, hid, warned)}
    assert lines == {
        3: "#3  brave-finch: [hidden: matches your filter]",
        4: "#4  kind-hare: [hidden: you hid this person]",
        5: "#5  brave-finch: [content warning: grief]",
    }
    first = {
        n: actions(e, False, transcript.hidden(e))[0][1]
        for n, e in ((3, filtered), (4, hid), (5, warned))
    }
    assert first == {3: "/open 3", 4: "/unhide kind-hare", 5: "/open 5"}
    assert transcript.open_warning(3) and transcript.hidden(filtered) is None


async def test_a_click_on_a_message_acts_on_that_message(server: ServerProcess) -> None:
    """The mouse picks a message too: a click on an older message's line offers what to do
    with that one, and the others see the reaction land on it (not on the newest)."""
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        older = await fac.post("the first week was the worst")
        await fac.post("now it is a little easier")
        await wait_for(pilot, lambda: "now it is a little easier" in transcript_texts(app), "it")
        view = app.screen.query_one(TranscriptView)
        number = app.screen.transcript.entry_for(older).number
        await wait_for(pilot, lambda: number in view.owners, "the line drawn")
        notice = view.owners.index(None)  # a notice line (joined): a click there does nothing
        assert await pilot.click("#transcript", offset=(20, notice + 1))  # +1: the border
        await pilot.pause()
        assert circle_ready(app)
        row = view.owners.index(number) - int(view.scroll_offset.y)
        assert await pilot.click("#transcript", offset=(20, row + 1))
        await wait_for(pilot, lambda: isinstance(app.screen, MessagePicker), "the picker")
        assert app.screen.chosen is not None and app.screen.chosen.id == older
        await pilot.press("down", "down", "enter")  # Reply, I hear you, same here
        reaction: ev.ReactionReceived = await fac.next_event(ev.ReactionReceived)
        assert (reaction.target, reaction.reaction) == (older, "same_here")
    await fac.close()


async def test_the_composer_has_the_focus_when_the_circle_opens(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        for _ in range(5):  # whatever settles after the screen arrives must not move it
            await pilot.pause()
        assert isinstance(app.focused, Composer), app.focused
        await pilot.press("enter")  # on an empty composer: nothing is sent, nothing moves
        assert isinstance(app.focused, Composer), app.focused
    await fac.close()


async def test_admissions_paused_clears_when_the_facilitator_is_back(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        await fac.drop_connection()  # gone for a moment; it reconnects and resumes

        def status() -> str:
            return str(screen.query_one("#status").render())

        await wait_for(pilot, lambda: "admissions paused" in status(), "admissions paused")
        assert app.client is not None and app.client.session.paused
        await fac.next_event(ev.Resumed, timeout=15)
        await wait_for(pilot, lambda: "admissions paused" not in status(), "the flag to go")
        assert not app.client.session.paused
    await fac.close()
