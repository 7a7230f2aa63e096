"""The benchmarks still run (``--smoke``): a tiny load through every path, a table printed.

Nothing here is timed: the figures of a smoke run mean nothing, only that each benchmark
gets from start to its table (docs/benchmarks.md has the real runs).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    ("module", "header"),
    [
        ("bench.client", "| seal + sign one message |"),
        ("bench.run", "| RSS per idle connection |"),
        ("bench.cluster", "| 2 nodes, Redis broker |"),
    ],
)
def test_benchmark_runs_in_smoke_mode(module: str, header: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert header in done.stdout
    assert "| measure |" in done.stdout or "| setup |" in done.stdout
