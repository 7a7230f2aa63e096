"""Shared fixtures: real circle-server processes on free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on (ws://\S+?)/?$")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    url: str
    output: list[str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        assert self.process.stdout is not None
        self.output.extend(self.process.stdout.read().splitlines())
        return code


def start_server(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> ServerProcess:
    """Start ``circle-server --port 0`` (under the disk-write audit) and wait until it listens."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "tests.support.audited", "circle_server.cli"]
    process = subprocess.Popen(
        [*command, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        cwd=cwd,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:  # blocks until the server prints; ends if it dies
        output.append(line.rstrip("\n"))
        match = LISTENING.search(line.strip())
        if match:
            return ServerProcess(process, match.group(1), output)
    process.wait(5)
    raise AssertionError("circle-server did not start:\n" + "\n".join(output))


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    proc = start_server()
    yield proc
    proc.stop()
