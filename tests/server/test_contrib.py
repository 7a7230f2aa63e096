"""contrib/: the systemd unit is hardened and says what a host needs (docs/hosting.md)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, ServerProcess
from tests.support.clients import get, open_circle

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


ALERTS = ROOT / "contrib" / "prometheus" / "circle-alerts.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "circle-dashboard.json"
SERIES = re.compile(r"\b((?:circle|process)_[a-z_]+)")


def expressions() -> list[str]:
    """Every PromQL expression in the alert rules and the dashboard."""
    found = [m.group(1) for m in re.finditer(r"^\s+expr: (.+)$", ALERTS.read_text(), re.M)]
    dashboard = json.loads(DASHBOARD.read_text())
    found += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(found) > 15
    return found


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool checks the rules: apt-get install prometheus (.ci/run does)"
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_rules_and_dashboard_use_only_series_the_server_exports(
    server: ServerProcess,
) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)  # histograms get samples
    body = (await asyncio.to_thread(get, server.url.replace("ws", "http", 1) + "/metrics"))[1]
    families = re.findall(r"^# TYPE (\S+) (\w+)$", body, re.M)  # also those with no sample yet
    suffixes = {"histogram": ("_bucket", "_count", "_sum")}  # counters are named with _total
    exported = {name + end for name, kind in families for end in suffixes.get(kind, ("",))}
    promtool = shutil.which("promtool")
    assert promtool, "promtool lints the metrics: apt-get install prometheus (.ci/run does)"
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for expr in expressions():
        for name in SERIES.findall(expr):
            assert name in exported, (name, expr)
    await fac.close()
