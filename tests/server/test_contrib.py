"""contrib/: the systemd unit is hardened and says what a host needs (docs/hosting.md)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "contrib" / "systemd" / "circle-server.service"


def test_the_unit_has_what_a_host_needs() -> None:
    text = UNIT.read_text()
    for line in (
        "Wants=network-online.target",
        "After=network-online.target",
        "RestartPreventExitStatus=2",  # a config error (exit 2) does not restart in a loop
        "ExecStart=/opt/circle/venv/bin/circle-server --config /etc/circle/circle-server.toml",
        "LoadCredential=redis-password:/etc/circle/redis-password",
        "Environment=CIRCLE_BROKER_PASSWORD_FILE=%d/redis-password",
    ):
        assert line in text, line
    limit = re.search(r"^LimitNOFILE=(\d+)$", text, re.M)
    assert limit and int(limit.group(1)) >= 5000 + 140  # max_connections and the reserve
    hosting = (ROOT / "docs" / "hosting.md").read_text()
    assert "/opt/circle/venv/bin/pip install" in hosting  # the venv the unit runs from


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_unit_scores_ok_in_systemd_analyze_security() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout
