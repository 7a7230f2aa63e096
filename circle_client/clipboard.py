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
from collections.abc import Callable, Mapping, Sequence

from circle_client.tui.wording import clean_invite
from protocol.errors import InviteError
from protocol.invite import Invite

READERS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    ("WAYLAND_DISPLAY", ("wl-paste", "--no-newline")),
    ("DISPLAY", ("xclip", "-selection", "clipboard", "-out")),
    ("DISPLAY", ("xsel", "--clipboard", "--output")),
    (None, ("pbpaste",)),  # macOS
    (None, ("powershell.exe", "-NoProfile", "-Command", "Get-Clipboard")),  # Windows, WSL
)
"""Clipboard tools, each with the environment variable that says its desktop is running."""
TIMEOUT_SECONDS = 2.0
MAX_CHARS = 4096
"""An invite is a few hundred characters; a clipboard holding more is something else."""

Runner = Callable[[Sequence[str]], str | None]


def run_tool(command: Sequence[str]) -> str | None:
    """What ``command`` prints, or None if it fails, hangs or prints something binary."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed list of clipboard tools, no shell
            list(command), capture_output=True, timeout=TIMEOUT_SECONDS, check=False
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
) -> str | None:
    """The clipboard's text from the first tool that is installed and answers, or None."""
    env = os.environ if env is None else env
    for needs, command in READERS:
        if needs is not None and not env.get(needs):
            continue
        found = which(command[0])
        if found is None:
            continue
        text = run((found, *command[1:]))
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
