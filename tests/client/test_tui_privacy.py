"""Nothing written, nothing in history: no built-in command saves the
screen to disk; the invite need not be typed on the command line (it is piped in, taken from
the clipboard, or pasted); a wrapped paste works."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import pytest
from textual import events

from circle_client import cli, clipboard
from circle_client.tui.screens import HISTORY_WARNING, InviteInput, JoinScreen
from circle_client.tui.wording import clean_invite
from protocol.invite import Invite

from .tui_support import make_app, wait_for

SIZE = (120, 36)
INVITE = str(Invite.create("ws://127.0.0.1:8765", b"\x01" * 16))


def files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, names in os.walk(root) for f in names]


async def test_no_palette_command_or_action_saves_a_screenshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Screenshot" not in titles and "Crisis resources" in titles
        await app.run_action("screenshot")
        assert app.save_screenshot() == ""
        app.deliver_screenshot()
        await pilot.pause()
        assert any("never saves" in n.message for n in app._notifications)
    assert files_under(tmp_path) == []


def test_a_wrapped_invite_is_put_back_together() -> None:
    half = len(INVITE) // 2
    wrapped = f"{INVITE[:half]}\n   │ {INVITE[half:]} │\n"
    assert clean_invite(wrapped) == INVITE
    assert str(Invite.parse(clean_invite(wrapped))) == INVITE


async def test_pasting_an_invite_with_line_breaks_works() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        field = app.screen.query_one(InviteInput)
        half = len(INVITE) // 2
        field.post_message(events.Paste(f"{INVITE[:half]}\n{INVITE[half:]}\n"))
        await pilot.pause()
        assert field.value == INVITE


def test_circle_join_reads_a_piped_invite_and_waits_for_one_at_a_terminal() -> None:
    assert cli.invite_from_stdin(io.StringIO(INVITE[:40] + "\n" + INVITE[40:])) == INVITE

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli.invite_from_stdin(Terminal()) is None
    args = cli.build_parser().parse_args(["join"])
    assert args.invite is None  # no argument needed: the join screen asks for it


async def test_an_invite_given_as_an_argument_is_warned_about() -> None:
    app = make_app(invite=INVITE, invite_from_argument=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        assert app.screen.query_one("#history-warning").render()
        assert "shell's history" in HISTORY_WARNING
    app = make_app(invite="")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        assert not app.screen.query("#history-warning")
        assert app.screen.query_one(InviteInput).has_focus


def fake_tool(directory: Path, name: str, prints: str, status: int = 0) -> None:
    """A clipboard tool on a private PATH: prints what a desktop's clipboard would hold."""
    tool = directory / name
    tool.write_text(f"#!/bin/sh\nprintf '%s' '{prints}'\nexit {status}\n")
    tool.chmod(0o700)


def test_the_clipboard_is_read_with_the_desktops_own_tool(tmp_path: Path) -> None:
    fake_tool(tmp_path, "wl-paste", "from wayland")
    fake_tool(tmp_path, "xclip", "from x11")
    fake_tool(tmp_path, "xsel", "", status=1)  # installed, but no clipboard to read

    def which(name: str) -> str | None:
        return shutil.which(name, path=str(tmp_path))

    assert clipboard.read_clipboard({"WAYLAND_DISPLAY": "wayland-0"}, which) == "from wayland"
    assert clipboard.read_clipboard({"DISPLAY": ":0"}, which) == "from x11"
    (tmp_path / "xclip").unlink()
    assert clipboard.read_clipboard({"DISPLAY": ":0"}, which) is None  # xsel failed
    assert clipboard.read_clipboard({}, which) is None  # no desktop: no X or Wayland tool


def test_each_system_reads_its_own_clipboard_within_one_deadline(tmp_path: Path) -> None:
    """macOS has pbpaste, Windows its own PowerShell by full path (never whatever PATH calls
    powershell.exe), WSL the Windows clipboard after X and Wayland; and all the tools together
    get two seconds, so a desktop that hangs cannot hold up the join screen."""
    assert clipboard.readers({}, "darwin") == [(None, ("pbpaste",))]
    (_, (windows, *_)), *rest = clipboard.readers({"SystemRoot": r"D:\Win"}, "win32")
    assert windows == r"D:\Win\System32\WindowsPowerShell\v1.0\powershell.exe" and not rest
    assert all("pbpaste" not in c and "powershell" not in c[0] for _, c in clipboard.readers({}))
    assert clipboard.readers({"WSL_DISTRO_NAME": "Debian"}, "linux")[-1][1][0].startswith("/mnt/c/")

    fake_tool(tmp_path, "wl-paste", "")
    fake_tool(tmp_path, "xclip", "")
    fake_tool(tmp_path, "xsel", "")
    now = [100.0]
    given: list[float] = []

    def slow(command: object, timeout: float) -> str | None:
        given.append(timeout)
        now[0] += timeout * 0.75  # a tool that takes most of its time, then fails
        return None

    def which(name: str) -> str | None:
        return shutil.which(name, path=str(tmp_path))

    env = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert clipboard.read_clipboard(env, which, slow, "linux", lambda: now[0]) is None
    assert given == [2.0, 0.5, 0.125]  # what is left of one deadline, never a fresh one each


def test_a_clipboard_tool_never_reads_the_terminal(tmp_path: Path) -> None:
    tool = tmp_path / "reads-stdin"
    tool.write_text("#!/bin/sh\ncat\n")
    tool.chmod(0o700)
    assert clipboard.run_tool([str(tool)], 2.0) == ""  # end of input at once: no hang


def test_circle_join_takes_only_an_invite_from_the_clipboard() -> None:
    half = len(INVITE) // 2
    assert clipboard.invite_from_clipboard(lambda: f"{INVITE[:half]}\n{INVITE[half:]}\n") == (
        INVITE
    )
    for other in ("hunter2", "", None, "x" * 10_000, INVITE[:-3]):
        assert clipboard.invite_from_clipboard(lambda other=other: other) is None


def test_circle_join_at_a_terminal_fills_in_the_clipboards_invite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``circle join`` with no argument, at a terminal, with an invite on the clipboard: the
    app starts on the join screen with it filled in and says where it came from;
    ``--no-clipboard`` leaves the clipboard alone."""
    started: list[dict[str, object]] = []

    class App:
        def __init__(self, **options: object) -> None:
            started.append(options)

        def run(self) -> None:
            return None

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("circle_client.tui.app.CircleApp", App)
    monkeypatch.setattr(cli, "invite_from_clipboard", lambda: INVITE)
    monkeypatch.setattr("sys.stdin", Terminal())
    cli.main(["join"])
    cli.main(["join", "--no-clipboard"])
    assert started[0]["invite"] == INVITE and started[0]["invite_from_clipboard"] is True
    assert started[1]["invite"] == "" and started[1]["invite_from_clipboard"] is False


async def test_the_join_screen_says_the_invite_came_from_the_clipboard() -> None:
    app = make_app(invite=INVITE, invite_from_clipboard=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        assert "from your clipboard" in str(app.screen.query_one("#from-clipboard").render())
        assert app.screen.query_one(InviteInput).value == INVITE
        assert not app.screen.query("#history-warning")


async def test_an_invite_from_the_clipboard_is_never_joined_unasked() -> None:
    """The clipboard may hold an old invite or someone else's: even with a handle given, the
    join screen waits for the person to confirm, and nothing is sent to the server."""
    app = make_app(invite=INVITE, handle="quiet-otter", invite_from_clipboard=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, JoinScreen), "the join screen")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, JoinScreen)
        assert app.handle == "" and app.client is None  # join_circle never ran


async def test_moving_the_mouse_through_the_transcript_keeps_the_lock_away() -> None:
    """Reading with the mouse is activity: a click or a scroll restarts the idle timer."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.last_activity -= 1000
        await pilot.click()
        assert app.last_activity > time.monotonic() - 5
        app.last_activity -= 1000
        await pilot.mouse_down()
        assert app.last_activity > time.monotonic() - 5
