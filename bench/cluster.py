"""Scale-out benchmark: one node against two nodes sharing circles through a real Redis.

    python -m bench.cluster            # 1,000 members in 50 circles (about three minutes)
    python -m bench.cluster --quick    # 200 members in 10 circles, shorter loads
    python -m bench.cluster --smoke    # a few members, one short load: proves it runs (CI)

Also reads the CPU time the server processes and redis-server spend per delivery, which is
what a capacity plan needs when the load generator, not the server, is the limit here.

Runs the same load (bench/loadgen.py) four ways, one after the other, each against fresh
server processes: a bare websockets relay (the baseline), one circle-server node with the
in-memory broker, one node with the Redis broker, and two nodes through Redis with every
circle's members spread over both nodes (so most deliveries cross nodes). Prints a Markdown
table: deliveries/s in all and per node, p50/p99 latency, and the p99 of two nodes against
one. Needs ``redis-server`` on the PATH; it is started here with persistence off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

from bench import loadgen
from bench.run import Target, pct, start

SERVER_ENV = {"CIRCLE_MAX_CONNECTIONS_PER_IP": "100000", "CIRCLE_MAX_MEMBERS": "50"}


@dataclass
class Result:
    load: float
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    server_us: float  # CPU time of all server processes per delivery, microseconds
    redis_us: float  # CPU time of redis-server per delivery


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis() -> tuple[subprocess.Popen[str], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench.cluster needs redis-server (apt-get install redis-server)")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            return process, f"redis://127.0.0.1:{port}/0"
    sys.exit("redis-server did not start")


def start_node(broker: str) -> Target:
    py = sys.executable
    command = [py, "-m", "circle_server.cli", "--port", "0", "--log-level", "WARNING"]
    return start("circle-server", [*command, "--broker", broker], env=SERVER_ENV)


async def run_load(
    urls: list[str],
    circles: int,
    per_circle: int,
    loads: list[float],
    seconds: float,
    label: str,
    pids: list[int],
    redis_pid: int,
) -> list[Result]:
    if urls[0].startswith("ws://") and "relay" in label:
        members = await loadgen.setup_relay(urls[0], circles, per_circle)
    else:
        members, _ = await loadgen.setup_circle(urls, circles, per_circle)
    # Let the last joins' rekeys settle, then a short warm-up that is not measured: the first
    # seconds after setup otherwise carry its tail (collections, queued rekeys) into the p99.
    await loadgen.drain(members, 3.0)
    await loadgen.offered_load(members, loads[0], 2.0)
    results = []
    for load in loads:
        servers_before = sum(cpu_seconds(pid) for pid in pids)
        redis_before = cpu_seconds(redis_pid)
        stats, elapsed = await loadgen.offered_load(members, load, seconds)
        per = 1e6 / max(1, stats.deliveries)
        results.append(
            Result(
                load,
                stats.deliveries / elapsed,
                pct(stats.latencies, 0.5) * 1000,
                pct(stats.latencies, 0.99) * 1000,
                (sum(cpu_seconds(pid) for pid in pids) - servers_before) * per,
                (cpu_seconds(redis_pid) - redis_before) * per,
            )
        )
        rate = results[-1].deliveries_per_s
        print(f"  {label}: {load:g} posts/s -> {rate:,.0f}/s", file=sys.stderr)
    await loadgen.close_all(members)
    return results


async def main(quick: bool, smoke: bool = False) -> None:
    circles, per_circle = (2, 3) if smoke else (10, 20) if quick else (50, 20)
    loads = [50.0, 200.0] if quick else [100.0, 300.0, 600.0]
    seconds = 3.0 if quick else 6.0
    if smoke:  # just enough to prove every path still runs; the figures mean nothing
        loads, seconds = [10.0], 0.5
    redis, redis_url = start_redis()
    runs: dict[str, tuple[int, list[Result]]] = {}
    try:
        relay = start("relay", [sys.executable, "-m", "bench.relay"])
        try:
            runs["bare relay"] = (
                1,
                await run_load(
                    [relay.url],
                    circles,
                    per_circle,
                    loads,
                    seconds,
                    "relay",
                    [relay.process.pid],
                    redis.pid,
                ),
            )
        finally:
            relay.stop()
        for label, broker, count in (
            ("1 node, memory broker", "memory", 1),
            ("1 node, Redis broker", redis_url, 1),
            ("2 nodes, Redis broker", redis_url, 2),
        ):
            nodes = [start_node(broker) for _ in range(count)]
            try:
                urls = [node.url for node in nodes]
                pids = [node.process.pid for node in nodes]
                runs[label] = (
                    count,
                    await run_load(
                        urls, circles, per_circle, loads, seconds, label, pids, redis.pid
                    ),
                )
            finally:
                for node in nodes:
                    node.stop()
    finally:
        redis.terminate()
        redis.wait(10)

    one = runs["1 node, Redis broker"][1]
    print(f"\n## Scale-out: {circles * per_circle} members in {circles} circles of {per_circle}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print("(load generator, Redis and every node share these cores)\n")
    print(
        "| setup | offered posts/s | expected deliveries/s | deliveries/s | per node "
        "| p50 / p99 ms | p99 vs 1 node (Redis) | server CPU us/delivery | Redis CPU us/delivery |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (count, results) in runs.items():
        for r, base in zip(results, one, strict=True):
            print(
                f"| {label} | {r.load:g} | {r.load * per_circle:,.0f} | {r.deliveries_per_s:,.0f} "
                f"| {r.deliveries_per_s / count:,.0f} | {r.p50_ms:.1f} / {r.p99_ms:.1f} "
                f"| {r.p99_ms / base.p99_ms:.2f} | {r.server_us:.1f} | {r.redis_us:.1f} |"
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
