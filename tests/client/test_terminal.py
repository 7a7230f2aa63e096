"""One real-terminal run: two installed ``circle`` processes in tmux talk through a real server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

CIRCLE = Path(sys.executable).with_name("circle")
INVITE = re.compile(r"circle://\S+#[A-Za-z0-9_-]+")
SENT_ALONE = re.compile(r"guest-two: it helps to be heard\s*│")


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", *args], capture_output=True, text=True, timeout=10, check=True
        )
        return result.stdout

    def start(self, window: str, command: list[str]) -> None:
        line = " ".join(subprocess.list2cmdline([part]) for part in command)
        env = f"TERM=xterm-256color COLORTERM=truecolor PATH={os.environ.get('PATH', '')}"
        size = ("-x", "220", "-y", "45")
        if window == "host":
            self.run("new-session", "-d", "-s", self.name, "-n", window, *size, "sh")
            self.run("set-option", "-t", self.name, "window-size", "manual")
        else:
            self.run("new-window", "-t", self.name, "-n", window, "sh")
        self.run("resize-window", "-t", f"{self.name}:{window}", *size)
        self.keys(window, f"exec env -u COLUMNS -u LINES {env} {line}", "Enter")

    def screen(self, window: str) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", f"{self.name}:{window}")

    def keys(self, window: str, *keys: str) -> None:
        self.run("send-keys", "-t", f"{self.name}:{window}", *keys)

    def wait(
        self, window: str, found: Callable[[str], bool], what: str, seconds: float = 30
    ) -> str:
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.screen(window)
            if found(text):
                return text
            time.sleep(0.2)  # polling a terminal: there is no event to await
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{text}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; .ci/run installs it")
    session = Tmux(f"circle-test-{os.getpid()}")
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session.name], capture_output=True, timeout=10)


def test_two_terminals_talk(server: ServerProcess, tmux: Tmux) -> None:
    assert CIRCLE.exists(), "the circle command is not installed in this environment"
    tmux.start(
        "host",
        [
            str(CIRCLE),
            "--idle-lock",
            "0",
            "open",
            "--server",
            server.url,
            "--title",
            "Terminal circle",
            "--handle",
            "host-one",
            "--auto-admit",
            "--now",
        ],
    )
    # The transcript and the footer are painted in separate frames: wait for both.
    screen = tmux.wait(
        "host", lambda s: "F4 (or /invite) shows" in s and "Quick exit" in s, "the circle"
    )
    assert "Quick exit" in screen and "Crisis help" in screen
    assert not INVITE.search(screen)  # never written into the conversation
    tmux.keys("host", "F4")  # the invite on one line, ready to copy
    screen = tmux.wait("host", lambda s: bool(INVITE.search(s)), "the invite")
    invite = INVITE.search(screen).group(0)  # type: ignore[union-attr]
    tmux.keys("host", "Escape")
    tmux.wait("host", lambda s: not INVITE.search(s), "the invite dialog closed")
    # No invite on the command line (it would stay in shell history): paste it when asked,
    # as a terminal that wrapped it would, with a line break in the middle.
    tmux.start("guest", [str(CIRCLE), "--idle-lock", "0", "join", "--handle", "guest-two"])
    tmux.wait("guest", lambda s: "Paste the invite" in s, "the join screen")
    half = len(invite) // 2
    tmux.run("set-buffer", "-b", "invite", f"{invite[:half]}\n{invite[half:]}")
    tmux.run("paste-buffer", "-p", "-d", "-b", "invite", "-t", f"{tmux.name}:guest")
    # Both halves arrive in the field as one paste: the start of the second half shows, and
    # the line break did not submit half an invite (that would show "cut off").
    pasted = tmux.wait("guest", lambda s: invite[: half + 8] in s, "the pasted invite")
    assert "cut off" not in pasted
    tmux.keys("guest", "Enter")
    tmux.wait("guest", lambda s: "I accept" in s, "the ground rules")
    tmux.keys("guest", "Enter")
    tmux.wait("guest", lambda s: "guest-two (you)" in s, "the circle")
    tmux.keys("guest", "hello from the other terminal")
    tmux.keys("guest", "Enter")
    tmux.wait("host", lambda s: "guest-two: hello from the other terminal" in s, "the message")
    tmux.keys("host", "glad you are here")
    tmux.keys("host", "Enter")
    tmux.wait("guest", lambda s: "host-one: glad you are here" in s, "the reply")
    # A refused command, then a new message: exactly the new message reaches the other side.
    tmux.keys("guest", "/reply 99 thank you")
    tmux.keys("guest", "Enter")
    tmux.wait("guest", lambda s: "Not sent" in s, "the refused draft given back")
    tmux.keys("guest", "it helps to be heard")
    tmux.keys("guest", "Enter")
    host = tmux.wait("host", lambda s: "it helps to be heard" in s, "the new message")
    received = [line for line in host.splitlines() if "it helps to be heard" in line]
    assert len(received) == 1 and SENT_ALONE.search(received[0]), received
    assert "/reply" not in host
    tmux.keys("guest", "C-x")
    tmux.wait("host", lambda s: "guest-two left the circle" in s, "the quick exit")
