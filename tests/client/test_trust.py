"""wss:// with a host's own certificate: refused with a plain message, trusted with --ca-file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from circle_client.client import CircleClient, ConnectError
from circle_client.trust import TrustSettingError, tls_context
from tests.conftest import ROOT
from tests.server.test_config import make_certificate


async def test_a_self_signed_server_is_refused_until_its_certificate_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = make_certificate(tmp_path)  # CN=localhost
    env = {**os.environ, "CIRCLE_TLS_CERT": str(cert), "CIRCLE_TLS_KEY": str(key)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "circle_server.cli", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = next(line for line in proc.stdout if "listening on" in line)
        url = "wss://localhost:" + line.strip().rstrip("/").rsplit(":", 1)[1]
        monkeypatch.delenv("CIRCLE_CA_FILE", raising=False)
        with pytest.raises(ConnectError, match="certificate this computer does not trust") as info:
            await CircleClient(url).connect(timeout=10)
        assert "--ca-file" in str(info.value)
        monkeypatch.setenv("CIRCLE_CA_FILE", str(cert))  # what circle --ca-file sets
        trusted = CircleClient(url)
        hello = await trusted.connect(timeout=10)
        assert hello is not None
        await trusted.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_ca_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TrustSettingError, match="junk.pem.* readable PEM certificate"):
        tls_context(str(junk))
    result = subprocess.run(
        [sys.executable, "-m", "circle_client.cli", "--ca-file", str(junk), "join", "x"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2 and "readable PEM certificate" in result.stderr
