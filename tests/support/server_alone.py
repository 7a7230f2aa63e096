"""Check an installed ``circle-server`` on its own: run by .ci/run with the Python of a venv
that holds only packaging/server (no Textual, no client, no test tools).

Usage: ``VENV/bin/python tests/support/server_alone.py VENV/bin/circle-server``. It checks
``--version`` and ``--check-config``, starts the server on a free port, says hello over a
websocket, reads /healthz, stops it with SIGTERM and expects exit 0.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

from protocol import limits
from protocol.frames import Hello, ServerHello, decode_frame, encode_frame


def main(command: str) -> None:
    assert "textual" not in sys.modules
    try:
        import textual  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("textual is installed beside the server alone")
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"circle-server \d+\.\d+\.\d+\n", version.stdout), version.stdout
    with tempfile.TemporaryDirectory() as directory:
        good, bad = Path(directory, "good.toml"), Path(directory, "bad.toml")
        good.write_text("[server]\nport = 0\n")
        bad.write_text('[server]\nport = "0"\n')
        assert subprocess.run([command, "--check-config", str(good)]).returncode == 0
        assert subprocess.run([command, "--check-config", str(bad)]).returncode == 2
    server = subprocess.Popen(
        [command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert server.stdout is not None
    for line in server.stdout:
        match = re.search(r"listening on ws://(\S+?)/?$", line.strip())
        if match:
            break
    else:
        raise SystemExit("circle-server did not start")
    address = match.group(1)
    asyncio.run(hello(f"ws://{address}/"))
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as response:
        assert response.status == 200
    server.send_signal(signal.SIGTERM)
    assert server.wait(15) == 0
    print(f"server alone: {version.stdout.strip()} ran without textual")


async def hello(url: str) -> None:
    async with connect(url, proxy=None) as ws:
        await ws.send(encode_frame(Hello(version=limits.PROTOCOL_VERSION)))
        assert isinstance(decode_frame(await ws.recv()), ServerHello)


if __name__ == "__main__":
    main(sys.argv[1])
