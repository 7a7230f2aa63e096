"""Reading an invite from the system clipboard, for ``circle join`` without an argument.

An invite carries the circle's secret, so it is better copied and pasted than typed on a
command line (where it stays in shell history and shows in ``ps``). The clipboard is read
with the desktop's own tool, only when ``circle join`` is run without an invite, and only an
invite is taken from it: anything else there is left alone and never shown. Nothing is
written, and nothing leaves the computer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from circle_client.tui.wording import clean_invite
from protocol.errors import InviteError
from protocol.invite import Invite

POWERSHELL = ("-NoProfile", "-NonInteractive", "-Command", "Get-Clipboard")
READERS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    ("WAYLAND_DISPLAY", ("wl-paste", "--no-newline", "--type", "text")),
    ("DISPLAY", ("xclip", "-selection", "clipboard", "-out")),
    ("DISPLAY", ("xsel", "--clipboard", "--output")),
)
"""Clipboard tools for X11 and Wayland, each with the environment variable that says its
desktop is running. macOS and Windows (and WSL) have one tool each; see :func:`readers`."""
TIMEOUT_SECONDS = 2.0
"""How long all the tools together may take: a slow desktop must not hold up the join."""
MAX_CHARS = 4096
"""An invite is a few hundred characters; a clipboard holding more is something else."""

Runner = Callable[[Sequence[str], float], str | None]


def readers(
    env: Mapping[str, str], platform: str = sys.platform
) -> list[tuple[str | None, tuple[str, ...]]]:
    """The tools worth trying on this system, in order. Windows' PowerShell is named by its
    full path (never looked up on PATH, where anything could be called powershell.exe)."""
    if platform == "darwin":
        return [(None, ("pbpaste",))]
    if platform == "win32":
        root = env.get("SystemRoot", r"C:\Windows")
        path = rf"{root}\System32\WindowsPowerShell\v1.0\powershell.exe"
        return [(None, (path, *POWERSHELL))]
    found = list(READERS)
    if env.get("WSL_DISTRO_NAME"):  # Linux under Windows: the Windows clipboard
        path = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
        found.append((None, (path, *POWERSHELL)))
    return found


def run_tool(command: Sequence[str], timeout: float = TIMEOUT_SECONDS) -> str | None:
    """What ``command`` prints, or None if it fails, hangs or prints something binary. It
    reads nothing from Circle's own input, which stays with the terminal."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed list of clipboard tools, no shell
            list(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        return done.stdout[: MAX_CHARS * 4].decode()
    except UnicodeDecodeError:
        return None


def read_clipboard(
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = run_tool,
    platform: str = sys.platform,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """The clipboard's text from the first tool that is installed and answers within
    :data:`TIMEOUT_SECONDS` in all, or None."""
    env = os.environ if env is None else env
    deadline = clock() + TIMEOUT_SECONDS
    for needs, command in readers(env, platform):
        if needs is not None and not env.get(needs):
            continue
        if os.path.isabs(command[0]):
            found: str | None = command[0] if os.path.exists(command[0]) else None
        else:
            found = which(command[0])
        if found is None:
            continue
        left = deadline - clock()
        if left <= 0:
            return None
        text = run((found, *command[1:]), left)
        if text is not None:
            return text
    return None


def invite_from_clipboard(read: Callable[[], str | None] = read_clipboard) -> str | None:
    """The invite on the clipboard, on one line, or None if the clipboard holds no invite."""
    text = read()
    if not text or len(text) > MAX_CHARS:
        return None
    invite = clean_invite(text)
    try:
        Invite.parse(invite)
    except InviteError:
        return None
    return invite
