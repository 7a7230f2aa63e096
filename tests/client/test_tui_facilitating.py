"""An honest embedded server and facilitator comfort: the Open form and
the status line say when a circle lives in this window and who can reach it; quitting,
leaving and handing over such a circle ask first; /close asks; an opt-in bell; a word when a
private note went out."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from textual.widgets import Static

from circle_client import cli
from circle_client import events as ev
from circle_client.client import CircleClient
from circle_client.tui.circle_screen import CircleScreen
from circle_client.tui.modals import ConfirmScreen
from circle_client.tui.screens import EndedScreen, OpenScreen
from circle_client.tui.widgets import Composer
from tests.conftest import ServerProcess

from .tui_support import circle_ready, flat, make_app, static_text, transcript_texts, wait_for

SIZE = (120, 36)


async def open_here(pilot, app) -> None:  # type: ignore[no-untyped-def]
    """Wait until the circle is open and its status line drawn."""
    await wait_for(pilot, lambda: circle_ready(app), "the circle")
    await wait_for(pilot, lambda: app.invite is not None, "the invite")
    await wait_for(
        pilot,
        lambda: "left" in str(app.screen.query_one("#status", Static).render()),
        "the status line",
    )


def test_share_needs_an_address_others_can_use() -> None:
    assert cli.check_share("192.168.1.20") is None
    assert cli.check_share("192.168.1.20:9000") is None
    assert "wildcard" in (cli.check_share("0.0.0.0") or "")
    assert "port" in (cli.check_share("192.168.1.20:99999") or "")


def test_share_and_server_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["open", "--server", "ws://127.0.0.1:9", "--share", "192.168.1.20"])
    assert stopped.value.code == 2
    assert "one or the other" in capsys.readouterr().err


async def test_the_open_form_says_where_the_circle_will_live() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenScreen), "the open form")
        where = flat(static_text(app.screen.query_one("#where", Static)))
        assert "live in this window" in where and "only this computer" in where
        assert "ends the circle for everyone" in where and "--share" in where


async def warned_then_stay(pilot: Any, app: Any, back_to: type) -> None:
    """The question before quitting a circle that lives here: it says the circle ends for
    everyone; Escape stays, back on ``back_to``."""
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
    assert "ends for everyone" in flat(static_text(app.screen.query(Static)[1]))
    await pilot.press("escape")  # stay
    await wait_for(pilot, lambda: isinstance(app.screen, back_to), "still here")


async def test_a_circle_living_here_says_so_and_quitting_asks_first() -> None:
    app = make_app(open_defaults={"title": "Here", "handle": "calm-heron"}, auto_open=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_here(pilot, app)
        status = str(app.screen.query_one("#status", Static).render())
        assert "lives in this window (this computer only)" in status
        await pilot.press("ctrl+q")
        await warned_then_stay(pilot, app, CircleScreen)
        assert app.is_running and app.embedded is not None
        app.screen.query_one(Composer).text = "/leave"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "staying")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.click("#yes")
        await pilot.pause()
    assert not app.is_running


async def test_share_binds_the_address_given_and_puts_it_in_the_invite() -> None:
    with socket.socket() as probe:  # a free port on this machine's loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    app = make_app(
        open_defaults={"title": "Shared", "handle": "calm-heron"}, auto_open=True, share=address
    )
    async with app.run_test(size=SIZE) as pilot:
        await open_here(pilot, app)
        assert app.invite is not None and (app.invite.host, app.invite.port) == ("127.0.0.1", port)
        status = str(app.screen.query_one("#status", Static).render())
        assert f"lives in this window (at {address})" in status
        guest = CircleClient(f"ws://{address}")
        await guest.connect()
        await guest.join(str(app.invite))
        await guest.close()


async def test_close_asks_and_the_bell_rings_for_knocks_and_concerns(
    server: ServerProcess,
) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Evening", "handle": "calm-heron"},
        auto_open=True,
        bell=True,
    )
    rings: list[None] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: rings.append(None)  # type: ignore[method-assign]
        await open_here(pilot, app)
        status = str(app.screen.query_one("#status", Static).render())
        assert "lives in this window" not in status  # a real server: nothing to warn about
        member = CircleClient(server.url)
        await member.connect()
        await member.join(str(app.invite))
        await member.knock("gentle-lynx")
        await wait_for(pilot, lambda: len(rings) == 1, "the bell for the knock")
        await pilot.press("f3", "enter")
        await member.next_event(ev.Admitted)
        await member.concern(None, "someone seems to be struggling")
        await wait_for(pilot, lambda: len(rings) == 2, "the bell for the concern")
        composer = app.screen.query_one(Composer)
        composer.text = "/warn gentle-lynx please keep names out of it"
        await pilot.press("enter")
        warning: ev.PrivateWarning = await member.next_event(ev.PrivateWarning)
        assert warning.text == "please keep names out of it"
        await wait_for(
            pilot,
            lambda: (
                "The server delivered your private note to gentle-lynx; only they can read it."
                in transcript_texts(app)
            ),
            "the confirmation line",
        )
        composer.text = "/close"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "are you sure?")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleScreen), "still open")
        composer.text = "/close"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
        await pilot.click("#yes")
        closed: ev.CircleClosed = await member.next_event(ev.CircleClosed)
        assert closed.reason == "facilitator"
        await member.close()


async def test_without_the_bell_option_nothing_rings(server: ServerProcess) -> None:
    app = make_app(
        server_url=server.url,
        open_defaults={"title": "Evening", "handle": "calm-heron"},
        auto_open=True,
    )
    rings: list[None] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: rings.append(None)  # type: ignore[method-assign]
        await open_here(pilot, app)
        member = CircleClient(server.url)
        await member.connect()
        await member.join(str(app.invite))
        await member.knock("gentle-lynx")
        room = app.screen.query_one("#waiting-room")
        await wait_for(pilot, lambda: room.option_count == 1, "the knock")  # type: ignore[attr-defined]
        assert rings == []
        await member.close()


async def test_after_handing_over_a_circle_living_here_quitting_still_asks() -> None:
    app = make_app(
        open_defaults={"title": "Here", "handle": "calm-heron", "auto_admit": True},
        auto_open=True,
    )
    async with app.run_test(size=SIZE) as pilot:
        await open_here(pilot, app)
        assert app.invite is not None
        member = CircleClient(app.invite.server_url)
        await member.connect()
        await member.join(str(app.invite))
        await member.knock("gentle-lynx")
        await member.next_event(ev.Admitted)
        screen = app.screen
        assert isinstance(screen, CircleScreen)
        await wait_for(pilot, lambda: len(screen.roster) == 2, "the member on the roster")
        screen.query_one(Composer).text = "/handover gentle-lynx"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked first")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not screen.lead, "the hand-over")
        status = str(screen.query_one("#status", Static).render())
        assert "lives in this window" in status  # the server is still here
        await pilot.press("ctrl+q")
        await warned_then_stay(pilot, app, CircleScreen)
        assert app.is_running
        # Having left, the circle still lives here: quitting from the closing screen asks too.
        screen.query_one(Composer).text = "/leave"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "leave, asked")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the closing screen")
        await pilot.press("q")
        await warned_then_stay(pilot, app, EndedScreen)
        assert app.is_running
        await member.close()
