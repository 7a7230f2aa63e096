"""The TUI with Pilot against a real circle-server process: every flow and the safety features."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input, OptionList, Static

from circle_client import events as ev
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import ConfirmScreen, CrisisScreen, HelpScreen, LockScreen
from circle_client.tui.screens import EndedScreen, JoinScreen, RulesScreen, WaitingScreen
from circle_client.tui.widgets import Composer, TranscriptView
from tests.conftest import ServerProcess

from .tui_support import (
    circle_ready,
    click,
    enter_circle,
    facilitator,
    flat,
    guest,
    join_through_tui,
    make_app,
    static_text,
    transcript_texts,
    wait_for,
)

SIZE = (110, 36)


async def test_home_shows_safety_keys_and_options() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        shown = {k: a.binding.description for k, a in app.screen.active_bindings.items()}
        footer_keys = set(shown)
        assert {"ctrl+x", "f2", "f1"} <= footer_keys
        assert shown["ctrl+x"] == "Quick exit" and shown["f2"] == "Crisis help"
        await pilot.press("f2")
        assert isinstance(app.screen, CrisisScreen)
        assert "988" in str(app.screen.query_one("#crisis-text", Static).render())
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_malformed_invite_says_what_to_do() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        app.screen.query_one("#invite", Input).value = "https://example.org/not-an-invite"
        await pilot.click("#continue")
        error = str(app.screen.query_one("#error").render())
        assert "should start with circle://" in error
        assert isinstance(app.screen, JoinScreen)


async def test_unknown_circle_and_unreachable_server(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url)
    await fac.moderate("close")
    await fac.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        app.screen.query_one("#invite", Input).value = invite
        await pilot.click("#continue")
        await wait_for(
            pilot,
            lambda: "ended or never existed" in str(app.screen.query_one("#error").render()),
            "error",
        )


async def test_participant_flow_rules_waiting_admitted_talk(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await join_through_tui(pilot, app, invite)
        rules = app.screen
        assert "Be gentle with each other." in str(rules.query_one("#rules-text", Static).render())
        await click(pilot, "#accept")
        await wait_for(pilot, lambda: isinstance(app.screen, WaitingScreen), "the waiting room")
        knock = await fac.next_event(ev.KnockReceived)
        assert knock.handle == "quiet-otter"
        await fac.admit(knock.member)
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        await fac.post("welcome, take your time")
        await wait_for(pilot, lambda: "welcome, take your time" in transcript_texts(app), "message")
        members = str(app.screen.query_one("#members", Static).render())
        assert "calm-heron (facilitator)" in members and "quiet-otter (you)" in members
        await pilot.press(*"thank you for having me")
        await pilot.press("enter")
        msg = await fac.next_event(ev.MessageReceived)
        while msg.content.body != "thank you for having me":
            msg = await fac.next_event(ev.MessageReceived)
        assert msg.handle == "quiet-otter"
        await pilot.press("ctrl+f")
        assert any(t.startswith("Circle fingerprint: ") for t in transcript_texts(app))
        fp = [t for t in transcript_texts(app) if t.startswith("Circle fingerprint")][-1]
        assert fac.session.fingerprint() in fp
        circle = app.screen
        view = circle.query_one(TranscriptView)
        circle.query_one(Composer).text = "a draft nobody should see"
        assert view.lines
        await fac.moderate("close")
        await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the ended screen")
        assert "facilitator closed" in str(app.screen.query("Static")[1].render())
        assert "has ended" in str(app.screen.query("Static")[0].render())
        # The transcript, the draft and the member list are gone from memory (F5).
        assert isinstance(circle, CircleScreen)
        assert not circle.transcript.entries and not circle.transcript.by_id
        assert not view.lines and not circle.roster and not circle.last_draft
        assert circle.query_one(Composer).text == ""
        assert (
            app.client is None
            or app.client.session.circle is None
            or not app.client.session.circle.held_epochs
        )
    await fac.close()


async def test_facilitator_flow_admit_moderate_close(server: ServerProcess) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Grief circle", "handle": "calm-heron"},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        await wait_for(pilot, lambda: app.invite is not None, "the invite")
        invite = str(app.invite)
        member = await_join = None
        from circle_client.client import CircleClient

        member = CircleClient(server.url)
        await member.connect()
        await member.join(invite)
        await member.knock("gentle-lynx", "low")
        room = app.screen.query_one("#waiting-room", OptionList)
        await wait_for(pilot, lambda: room.option_count == 1, "the knock")
        room.focus()
        room.highlighted = 0
        await pilot.press("enter")
        await member.next_event(ev.Admitted)
        await wait_for(pilot, lambda: room.option_count == 0, "the waiting room to empty")
        await_join = member
        composer = app.screen.query_one(Composer)
        composer.text = "/mute gentle-lynx 5"
        await pilot.press("enter")
        notice = await await_join.next_event(ev.NoticeReceived)
        while notice.action != "mute":
            notice = await await_join.next_event(ev.NoticeReceived)
        assert notice.text == "gentle-lynx was muted for 5 min"
        composer.text = "/tally"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "Check-in moods (anonymous): low: 1" in transcript_texts(app), "tally"
        )
        assert "Check-out moods (anonymous): none yet" in transcript_texts(app)
        await member.concern(None, "someone seems to be struggling")
        await wait_for(
            pilot,
            lambda: "struggling" in str(app.screen.query_one("#inbox", Static).render()),
            "concern",
        )
        composer.text = "/round 60"
        await pilot.press("enter")
        rnd = await member.next_event(ev.RoundChanged)
        assert rnd.share_seconds == 60
        composer.text = "/close"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "are you sure?")
        await click(pilot, "#yes")
        closed = await member.next_event(ev.CircleClosed)
        assert closed.reason == "facilitator"
        await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "ended")
        assert app.invite is None  # the invite carries the circle's secret
        assert app.client is not None and app.client.session.lead is None
        await member.close()


async def test_crisis_words_show_resources_and_keep_the_draft(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        screen.query_one(Composer).text = "some nights I want to die"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis resources")
        await pilot.click("#keep")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "back")
        assert screen.query_one(Composer).text == "some nights I want to die"
        assert "some nights I want to die" not in transcript_texts(app)
        # Oversharing: a phone number asks first; "Send anyway" sends.
        screen.query_one(Composer).text = "text me on 07700 900123"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), "the oversharing check"
        )
        assert "a phone number" in str(app.screen.query("Static")[1].render())
        await pilot.click("#yes")
        msg = await fac.next_event(ev.MessageReceived)
        assert msg.content.body == "text me on 07700 900123"
    await fac.close()


async def test_content_warning_hide_filter_retract_react(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        other = await guest(server.url, fac, invite, "brave-finch")
        await other.post("the details of that night", warning="self-harm")
        await wait_for(
            pilot, lambda: "the details of that night" in transcript_texts(app), "cw message"
        )
        entry = screen.transcript.recent(1)[0]
        from circle_client.tui.widgets import entry_words

        assert "content warning: self-harm" in entry_words(entry, screen.transcript).plain
        assert "the details" not in entry_words(entry, screen.transcript).plain
        screen.query_one(Composer).text = f"/open {entry.number}"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "the details of that night" in entry_words(entry, screen.transcript).plain,
            "the opened warning",
        )
        screen.query_one(Composer).text = f"/react {entry.number} hear"
        await pilot.press("enter")
        reaction = await other.next_event(ev.ReactionReceived)
        assert reaction.reaction == "i_hear_you" and reaction.handle == "quiet-otter"
        screen.query_one(Composer).text = "/filter funeral"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "funeral" in screen.transcript.filters, "the filter")
        await fac.post("the funeral is on friday")
        await wait_for(
            pilot, lambda: "the funeral is on friday" in transcript_texts(app), "filtered"
        )
        filtered = screen.transcript.recent(1)[0]
        assert "hidden: matches your filter" in entry_words(filtered, screen.transcript).plain
        screen.query_one(Composer).text = "/hide brave-finch"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "hidden: you hid this person" in entry_words(entry, screen.transcript).plain,
            "the personal mute",
        )
        msg_id = await other.post("I regret saying this")
        await wait_for(pilot, lambda: "I regret saying this" in transcript_texts(app), "regret")
        await other.retract(msg_id)
        await wait_for(
            pilot, lambda: "I regret saying this" not in transcript_texts(app), "retraction"
        )
        await other.close()
    await fac.close()


async def test_quick_exit_leaves_at_once(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        await pilot.press("ctrl+x")
        await pilot.pause()
    assert app.return_value == "quick-exit"
    notice = await fac.next_event(ev.NoticeReceived)
    while notice.action != "left":
        notice = await fac.next_event(ev.NoticeReceived)
    assert notice.text == "quiet-otter left the circle"
    await fac.close()


async def test_idle_lock_hides_everything_until_a_key() -> None:
    app = make_app(idle_lock_seconds=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the idle lock")
        await pilot.press("space")
        await wait_for(pilot, lambda: not isinstance(app.screen, LockScreen), "unlock")


@pytest.mark.parametrize("command", ["/nonsense", "/react 999 hear", "/mute someone 5", "/me"])
async def test_bad_commands_explain_themselves(server: ServerProcess, command: str) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        composer.text = command
        await pilot.press("enter")

        def explained() -> bool:
            return any(
                "/help" in m
                or "Usage" in m
                or "no such" in m.lower()
                or "facilitator" in m
                or "nothing to send" in m
                for m in (n.message for n in app._notifications)
            )

        await wait_for(pilot, explained, "an explanation")
        assert composer.text == command  # kept, to fix
    await fac.close()


async def test_lobby_lists_and_joins(server: ServerProcess) -> None:
    fac, _invite = await facilitator(server.url, title="Listed grief circle", listed=True)
    app = make_app(server_url=server.url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.click("#list")
        listing = app.screen.query_one("#listing", OptionList)
        await wait_for(pilot, lambda: listing.option_count == 1, "the listing")
        assert "Listed grief circle" in str(listing.get_option_at_index(0).prompt)
        listing.focus()
        listing.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        await pilot.click("#continue")
        await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the rules")
        await click(pilot, "#accept")
        knock = await fac.next_event(ev.KnockReceived)  # listed: someone decides (S2)
        await fac.admit(knock.member)
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
    await fac.close()


async def test_invite_dialog_shows_the_whole_invite() -> None:
    """The invite is shown on one line in its own dialog (F4, /invite), and never written into
    the conversation, where it would wrap over two lines and stay in view."""
    app = make_app(open_defaults={"title": "Invite test", "handle": "calm-heron"}, auto_open=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        await wait_for(pilot, lambda: any("F4" in t for t in transcript_texts(app)), "the note")
        secret = str(app.invite).rpartition("#")[2]
        assert len(secret) > 20
        assert not any(secret in t or "circle://" in t for t in transcript_texts(app))
        drawn = "".join(strip.text for strip in app.screen.query_one(TranscriptView).lines).replace(
            " ", ""
        )
        assert secret[:12] not in drawn
        composer = app.screen.query_one(Composer)
        composer.focus()
        composer.text = "/invite"
        await wait_for(pilot, lambda: composer.has_focus, "the composer")
        await pilot.press("enter")
        from circle_client.tui.modals import InviteScreen

        await wait_for(pilot, lambda: isinstance(app.screen, InviteScreen), "the invite dialog")
        shown = app.screen.query_one("#invite-text", Input).value
        assert shown == str(app.invite)
        too_wide = app.screen.query_one("#invite-too-wide")
        assert too_wide.display  # 80 columns: it says how to get all of it
        await pilot.resize_terminal(220, 30)
        await wait_for(pilot, lambda: not too_wide.display, "the whole invite on one line")
        from protocol.invite import Invite

        assert Invite.parse(shown).circle_id == app.invite.circle_id  # type: ignore[union-attr]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "back")


async def test_handover_moves_the_facilitator_panel(server: ServerProcess) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Hand-over", "handle": "calm-heron", "auto_admit": True},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.query("#waiting-room")), "the panel")
        await wait_for(pilot, lambda: app.invite is not None, "the invite")
        assert screen.query_one("#waiting-room").display
        from circle_client.client import CircleClient

        other = CircleClient(server.url)
        await other.connect()
        await other.join(str(app.invite))
        await other.knock("next-lead")
        await other.next_event(ev.Admitted)
        await wait_for(
            pilot, lambda: any(h == "next-lead" for _, h, _ in screen.roster), "the roster"
        )
        screen.query_one(Composer).text = "/handover next-lead"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: not screen.query_one("#waiting-room").display, "the panel to go"
        )
        notice = await other.next_event(ev.NoticeReceived)
        while notice.action != "handover":
            notice = await other.next_event(ev.NoticeReceived)
        assert other.session.lead is not None
        screen.query_one(Composer).text = "/lock"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any("for the facilitator" in n.message for n in app._notifications),
            "the refusal",
        )
        await other.close()


async def test_go_around_shows_whose_turn_the_share_timer_and_pass(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    now = [1_000_000.0]
    app = make_app(clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        me = app.client.session.member  # type: ignore[union-attr]
        await fac.moderate("round_start", order=(me, fac.session.member), seconds=90)

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        await wait_for(pilot, lambda: "you are sharing" in status(), "my turn")
        assert "(1:30 left), then calm-heron" in status()
        assert any("Your turn to share" in n.message for n in app._notifications)
        now[0] += 31
        screen.refresh_status()
        assert "(0:59 left)" in status()
        screen.query_one(Composer).text = "/pass"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "calm-heron is sharing (1:30 left)" in status(), "the pass")
        rnd = await fac.next_event(ev.RoundChanged)
        while rnd.speaker != fac.session.member:
            rnd = await fac.next_event(ev.RoundChanged)
        assert rnd.share_seconds == 90
        await fac.moderate("round_end")
        await wait_for(pilot, lambda: "Go-around" not in status(), "the end of the round")
        await fac.moderate("round_start", order=(fac.session.member, me))
        await wait_for(pilot, lambda: "calm-heron is sharing" in status(), "a second round")
        assert ", then you" in status()  # never my own handle
        assert f"then {app.client.session.handle_of(me)}" not in status()  # type: ignore[union-attr]
    await fac.close()


async def test_facilitator_declines_a_knock_and_sets_slow_mode(server: ServerProcess) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Decline", "handle": "calm-heron"},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        screen = app.screen
        from circle_client.client import CircleClient

        knocker = CircleClient(server.url)
        await knocker.connect()
        await knocker.join(str(app.invite))
        await knocker.knock("loud-jackal")
        room = screen.query_one("#waiting-room", OptionList)
        await wait_for(pilot, lambda: room.option_count == 1, "the knock")
        assert "d declines" in str(room.border_subtitle)
        room.focus()
        room.highlighted = 0
        await pilot.press("d")
        await knocker.next_event(ev.Declined)
        await wait_for(pilot, lambda: room.option_count == 0, "the knock to go")
        assert screen.query_one(Composer).has_focus
        await knocker.close()

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        composer = screen.query_one(Composer)
        composer.text = "/slow 10"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "slow mode: one message every 10 s" in status(), "slow")
        composer.text = "/slow 0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "slow" not in status(), "slow mode off")
        assert not status().rstrip().endswith("·")


async def test_a_muted_member_sees_it_until_unmuted(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        me = app.client.session.member  # type: ignore[union-attr]

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        await fac.moderate("mute", target=me, minutes=5)
        await wait_for(pilot, lambda: "you are muted (4:5" in status(), "the mute")
        await fac.moderate("unmute", target=me)
        await wait_for(pilot, lambda: "muted" not in status(), "the unmute")
        assert any("talk again" in n.message for n in app._notifications)
    await fac.close()


async def test_a_taken_handle_is_made_unique_and_the_joiner_is_told(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    first = await guest(server.url, fac, invite, "quiet-otter")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        me = app.client.session.member  # type: ignore[union-attr]
        await wait_for(
            pilot,
            lambda: (
                f"Someone here already uses quiet-otter, so you are quiet-otter-{me} in "
                "this circle." in transcript_texts(app)
            ),
            "the note about the handle",
        )
        members = str(app.screen.query_one("#members", Static).render())
        assert f"quiet-otter-{me} (you)" in members
        handles = [h for _, h, _ in app.screen.roster]  # type: ignore[attr-defined]
        assert len(handles) == len(set(handles)) == 3
        await first.close()
    await fac.close()


async def next_of(client, kind, match):  # type: ignore[no-untyped-def]
    """The next event of ``kind`` that satisfies ``match`` (others are skipped)."""
    event = await client.next_event(kind)
    while not match(event):
        event = await client.next_event(kind)
    return event


async def test_talking_me_reply_takeback_concern_pin_and_check_out(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        composer = screen.query_one(Composer)
        fac_id = await fac.post("how is everyone arriving?")
        await wait_for(pilot, lambda: "how is everyone arriving?" in transcript_texts(app), "post")
        asked = screen.transcript.entry_for(fac_id)
        assert asked is not None

        composer.text = "/me sits down quietly"
        await pilot.press("enter")
        me = await next_of(fac, ev.MessageReceived, lambda m: m.content.me)
        assert me.content.body == "sits down quietly"

        composer.text = f"/reply {asked.number} a bit tired, but here"
        await pilot.press("enter")
        reply = await next_of(fac, ev.MessageReceived, lambda m: m.content.reply_to)
        assert reply.content.reply_to == fac_id and reply.content.body == "a bit tired, but here"

        composer.text = "I said too much just now"
        await pilot.press("enter")
        regret = await next_of(fac, ev.MessageReceived, lambda m: "too much" in m.content.body)
        await wait_for(pilot, lambda: screen.transcript.entry_for(regret.id) is not None, "echo")
        mine = screen.transcript.entry_for(regret.id)
        composer.text = f"/takeback {mine.number}"  # type: ignore[union-attr]
        await pilot.press("enter")
        gone = await fac.next_event(ev.Retracted)
        assert gone.target == regret.id
        await wait_for(pilot, lambda: "I said too much" not in transcript_texts(app), "gone")
        composer.text = f"/takeback {asked.number}"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any("only take back your own" in n.message for n in app._notifications),
            "the refusal to take back someone else's message",
        )

        composer.text = f"/concern {asked.number} this worries me"
        await pilot.press("enter")
        concern = await fac.next_event(ev.ConcernReceived)
        assert (concern.handle, concern.note, concern.target) == (
            "quiet-otter",
            "this worries me",
            fac_id,
        )

        await fac.pin("Topic: first weeks")
        pinned = screen.query_one("#pinned", Static)
        await wait_for(pilot, lambda: "Topic: first weeks" in str(pinned.render()), "the pin")

        composer.text = "/leave good"
        await pilot.press("enter")
        out = await fac.next_event(ev.CheckedOut)
        assert out.mood == "good"
        assert fac.session.lead is not None and fac.session.lead.checkouts == {"good": 1}
        await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the ended screen")
    await fac.close()


async def test_tab_completes_commands_and_the_palette_lists_each(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        composer = app.screen.query_one(Composer)
        await pilot.press("/", "t", "a", "k", "tab")
        assert composer.text == "/takeback "
        composer.text = "/re"
        composer.move_cursor(composer.document.end)
        await pilot.press("tab")
        assert any("/reply  /react" in n.message for n in app._notifications)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        from circle_client.commands import COMMANDS

        members = {f"/{c.name}" for c in COMMANDS if not c.facilitator}
        assert members <= titles
        assert "/ban" not in titles  # facilitator commands only for facilitators
        assert {"Crisis resources", "Quick exit"} <= titles
        palette_entry = next(c for c in app.get_system_commands(app.screen) if c.title == "/cw")
        palette_entry.callback()
        assert composer.text == "/cw " and composer.has_focus
    await fac.close()


async def test_idle_lock_hides_the_transcript_and_holds_notifications(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        await fac.post("something only the circle should read")
        await wait_for(
            pilot, lambda: "something only the circle should read" in transcript_texts(app), "post"
        )
        assert "something&#160;only&#160;the&#160;circle" in app.export_screenshot()
        app.idle_lock_seconds = 60
        app.last_activity -= 61
        app._check_idle()
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the idle lock")
        await pilot.pause()
        assert "something&#160;only&#160;the&#160;circle" not in app.export_screenshot()
        me = app.client.session.member  # type: ignore[union-attr]
        await fac.moderate("warn", target=me, note="please keep names out")
        await wait_for(
            pilot,
            lambda: (
                "Private note from a facilitator: please keep names out" in transcript_texts(app)
            ),
            "the private note",
        )
        assert not app._notifications  # nothing pops up over the lock
        assert "please&#160;keep&#160;names" not in app.export_screenshot()
        await pilot.press("space")
        await wait_for(pilot, lambda: not isinstance(app.screen, LockScreen), "unlock")
        assert any("please keep names out" in n.message for n in app._notifications)
    await fac.close()


async def test_a_dropped_connection_reconnects_and_resumes_without_duplicates(
    server: ServerProcess,
) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        await fac.post("before the drop")
        await wait_for(pilot, lambda: "before the drop" in transcript_texts(app), "post")
        client = app.client
        assert client is not None
        await client.drop_connection()
        status = screen.query_one("#status", Static)
        await wait_for(pilot, lambda: "reconnecting" in str(status.render()), "reconnecting")
        await fac.post("while you were away")
        await wait_for(pilot, lambda: "while you were away" in transcript_texts(app), "resume")
        await wait_for(pilot, lambda: "reconnecting" not in str(status.render()), "resumed")
        assert isinstance(app.screen, CircleScreen) and app.client is client
        texts = transcript_texts(app)
        assert texts.count("before the drop") == 1 and texts.count("while you were away") == 1
    await fac.close()


async def test_leave_key_asks_first_and_offers_a_check_out_mood(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        from circle_client.tui.modals import LeaveScreen

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaveScreen), "the leave dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "staying")
        assert app.client is not None and app.client.session.admitted
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaveScreen), "the leave dialog")
        moods = app.screen.query_one("#checkout", OptionList)
        moods.highlighted = [o.id for o in moods.options].index("low")
        await click(pilot, "#leave")
        out = await fac.next_event(ev.CheckedOut)
        assert out.mood == "low"
        await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the ended screen")
        assert str(app.screen.query("Static")[0].render()) == "You left the circle"
    await fac.close()


async def test_the_agenda_phase_shows_by_the_clock_for_a_member(server: ServerProcess) -> None:
    fac, invite = await facilitator(server.url, auto_admit=True)
    await fac.set_phase("check-in")  # before the member arrives: they learn it on entry
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await enter_circle(pilot, app, invite)
        screen = app.screen
        assert isinstance(screen, CircleScreen)

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        await wait_for(pilot, lambda: "  ·  Check-in, " in status(), "the phase")
        assert re.search(r"  ·  Check-in, \d\d:\d\d left", status())  # with the clock
        await fac.set_phase("sharing")
        await wait_for(pilot, lambda: "  ·  Sharing, " in status(), "the next phase")
        assert "Agenda phase: sharing" in transcript_texts(app)
        assert "Agenda phase: check-in" not in transcript_texts(app)  # state, not news
        await fac.set_phase(None)
        await wait_for(pilot, lambda: "Sharing" not in status(), "the phase cleared")
        assert "The agenda phase was cleared" in transcript_texts(app)
        screen.query_one(Composer).text = "/phase sharing"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any("/phase is for the facilitator" in n.message for n in app._notifications),
            "the refusal",
        )
    await fac.close()


async def test_the_facilitator_sets_the_phase_with_a_completed_command(
    server: ServerProcess,
) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Phases", "handle": "calm-heron", "auto_admit": True},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: circle_ready(app), "the circle")
        screen = app.screen
        member = await guest(server.url, app.client, str(app.invite), "quiet-otter")  # type: ignore[arg-type]
        composer = screen.query_one(Composer)
        composer.text = "/ph"
        composer.move_cursor(composer.document.end)
        await pilot.press("tab", "s", "tab")
        assert composer.text == "/phase sharing"
        await pilot.press("enter")
        assert (await member.next_event(ev.PhaseChanged)).phase == "sharing"
        await wait_for(
            pilot,
            lambda: "Sharing, " in str(screen.query_one("#status", Static).render()),
            "the facilitator's own status",
        )
        composer.text = "/phase ch"
        composer.move_cursor(composer.document.end)
        await pilot.press("tab")
        assert any("/phase check-in  /phase check-out" in n.message for n in app._notifications)
        composer.text = "/phase lunch"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(
                "Usage: /phase check-in|sharing|check-out|none" in n.message
                for n in app._notifications
            ),
            "the usage",
        )
        assert composer.text == "/phase lunch"  # kept to fix
        titles = {c.title for c in app.get_system_commands(screen)}
        assert "/phase" in titles
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_text = flat(static_text(app.screen.query_one("#help-commands", Static)))
        assert "/phase PHASE" in help_text and "check-in, sharing, check-out, none" in help_text
        await pilot.press("escape")
        composer.text = "/phase none"
        await pilot.press("enter")
        assert (await member.next_event(ev.PhaseChanged)).phase is None
        await member.close()


async def test_a_knock_or_join_with_no_facilitator_here_says_so_plainly(
    server: ServerProcess,
) -> None:
    from circle_client.client import CircleClient

    fac = CircleClient(server.url, reconnect=False)
    await fac.connect()
    invite = str(await fac.open_circle(handle="calm-heron", title="Paused", rules="Be kind."))
    watcher = await guest(server.url, fac, invite, "still-here")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await join_through_tui(pilot, app, invite)
        await fac.drop_connection()  # the facilitator is gone while the rules are read
        notice = await watcher.next_event(ev.NoticeReceived)
        while notice.action != "paused":
            notice = await watcher.next_event(ev.NoticeReceived)
        await click(pilot, "#accept")
        waiting = app.screen
        assert isinstance(waiting, WaitingScreen)

        def shown() -> str:
            return " ".join(str(w.render()) for w in waiting.query("Static, Label"))

        paused = "No facilitator is here right now; try again in a few minutes."
        await wait_for(pilot, lambda: paused in shown(), "the refusal")
        assert "You are not in yet" in shown() and "did not reach anyone" in shown()
        assert "Waiting for the facilitator" not in shown()
        again = waiting.query_one("#knock-again")
        assert again.display and again.has_focus
        session = app.client.session  # type: ignore[union-attr]
        knocks: list[tuple[object, ...]] = []
        accept_rules = session.accept_rules
        session.accept_rules = lambda *a: (knocks.append(a), accept_rules(*a))[1]  # type: ignore[method-assign]
        await pilot.press("enter")  # knock again: still nobody here, refused again
        await wait_for(pilot, lambda: bool(knocks) and paused in shown(), "the second refusal")
        assert knocks == [("quiet-otter", None)]  # the same handle and (no) mood
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, WaitingScreen), "home")
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        app.screen.query_one("#invite", Input).value = invite
        await pilot.click("#continue")
        await wait_for(
            pilot, lambda: paused in str(app.screen.query_one("#error").render()), "join refusal"
        )
        assert isinstance(app.screen, JoinScreen)
    await watcher.close()
