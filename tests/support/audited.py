"""Run a Circle command with an audit hook that reports every attempt to write a file.

Used by the tests that check S7 (nothing written to disk during a session): the hook sees
every ``open()`` in the process, including those inside libraries, and prints one line
``DISK-WRITE <mode> <path>`` for any that could write. Usage::

    python -m tests.support.audited circle_server.cli --port 0
"""

from __future__ import annotations

import os
import runpy
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
WRITE_EVENTS = ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.copyfile", "os.truncate")


def disk_write(event: str, args: tuple[object, ...]) -> str | None:
    """A description of the write this audit event is about to make, or None."""
    if event == "open" and len(args) >= 2:
        path, mode = args[0], args[1]
        writes = isinstance(mode, str) and any(c in mode for c in "wax+")
        if len(args) >= 3 and isinstance(args[2], int) and args[2] & WRITE_FLAGS:
            writes = True
        if writes and path is not None and not str(path).startswith("/dev/"):
            return f"{mode} {path}"
    elif event in WRITE_EVENTS:
        return f"{event} {args[0]}"
    return None


def _hook(event: str, args: tuple[object, ...]) -> None:
    found = disk_write(event, args)
    if found:
        sys.stderr.write(f"DISK-WRITE {found}\n")


def main() -> None:
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    sys.dont_write_bytecode = True
    sys.addaudithook(_hook)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
