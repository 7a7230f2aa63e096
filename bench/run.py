"""Fan-out benchmark: circle-server against a bare websockets relay, same machine, same load.

    python -m bench.run            # 1,000 members in 50 circles (about two minutes)
    python -m bench.run --quick    # 200 members in 10 circles, shorter loads
    python -m bench.run --smoke    # a few members, one short load: proves it runs (CI)

Prints a Markdown table: deliveries/s and p50/p99 latency at several offered loads, RSS per
idle connection, and join latency (invite to admitted, auto-admit). The two servers run as
separate processes, one after the other, and the load generator is this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on (ws://\S+?)/?$")


@dataclass
class Target:
    name: str
    process: subprocess.Popen[str]
    url: str

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match
        return int(match.group(1))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(name: str, command: list[str], env: dict[str, str] | None = None) -> Target:
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = LISTEN.search(line.strip())
        if match:
            return Target(name, process, match.group(1))
    raise RuntimeError(f"{name} did not start")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Row:
    load: float
    deliveries_per_s: float
    expected_per_s: float
    p50_ms: float
    p99_ms: float


async def measure(
    target: Target, circles: int, per_circle: int, loads: list[float], seconds: float
) -> tuple[list[Row], float, list[float]]:
    base_rss = target.rss_kib()
    if target.name == "circle-server":
        members, joins = await loadgen.setup_circle(target.url, circles, per_circle)
    else:
        members, joins = await loadgen.setup_relay(target.url, circles, per_circle), []
    await loadgen.drain(members)
    rss_per_member = (target.rss_kib() - base_rss) / len(members)
    rows = []
    for load in loads:
        stats, elapsed = await loadgen.offered_load(members, load, seconds)
        rows.append(
            Row(
                load,
                stats.deliveries / elapsed,
                load * per_circle,
                pct(stats.latencies, 0.5) * 1000,
                pct(stats.latencies, 0.99) * 1000,
            )
        )
        print(
            f"  {target.name}: {load:g} posts/s -> {rows[-1].deliveries_per_s:,.0f} deliveries/s",
            file=sys.stderr,
        )
    await loadgen.close_all(members)
    return rows, rss_per_member, joins


async def main(quick: bool, smoke: bool = False) -> None:
    circles, per_circle = (2, 3) if smoke else (10, 20) if quick else (50, 20)
    loads = [50.0, 200.0] if quick else [100.0, 300.0, 600.0, 1000.0]
    seconds = 3.0 if quick else 6.0
    if smoke:  # just enough to prove every path still runs; the figures mean nothing
        loads, seconds = [10.0], 0.5
    py = sys.executable
    results = {}
    relay = start("relay", [py, "-m", "bench.relay"])
    try:
        results["relay"] = await measure(relay, circles, per_circle, loads, seconds)
    finally:
        relay.stop()
    server = start(
        "circle-server",
        [py, "-m", "circle_server.cli", "--port", "0", "--log-level", "WARNING"],
        env={"CIRCLE_MAX_CONNECTIONS_PER_IP": "100000", "CIRCLE_MAX_MEMBERS": "50"},
    )
    try:
        results["circle"] = await measure(server, circles, per_circle, loads, seconds)
    finally:
        server.stop()
    relay_rows, relay_rss, _ = results["relay"]
    circle_rows, circle_rss, joins = results["circle"]
    members = circles * per_circle
    print(f"\n## Fan-out: {members} members in {circles} circles of {per_circle}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}\n")
    print(
        "| offered posts/s | expected deliveries/s | relay deliveries/s | circle deliveries/s "
        "| ratio | relay p50 / p99 ms | circle p50 / p99 ms | p99 ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r, c in zip(relay_rows, circle_rows, strict=True):
        print(
            f"| {r.load:g} | {r.expected_per_s:,.0f} | {r.deliveries_per_s:,.0f} "
            f"| {c.deliveries_per_s:,.0f} "
            f"| {c.deliveries_per_s / r.deliveries_per_s:.2f} | {r.p50_ms:.1f} / {r.p99_ms:.1f} "
            f"| {c.p50_ms:.1f} / {c.p99_ms:.1f} | {c.p99_ms / r.p99_ms:.2f} |"
        )
    print("\n| measure | relay | circle-server | target |")
    print("|---|---:|---:|---|")
    print(f"| RSS per idle connection | {relay_rss:.1f} KiB | {circle_rss:.1f} KiB | <= 32 KiB |")
    if joins:
        p50, p99 = statistics.median(joins) * 1000, pct(joins, 0.99) * 1000
        print(
            f"| join, invite to admitted (auto-admit), n={len(joins)} | - "
            f"| p50 {p50:.1f} ms, p99 {p99:.1f} ms | p99 < 100 ms |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, shorter run")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run that only proves the benchmark works"
    )
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.smoke))
