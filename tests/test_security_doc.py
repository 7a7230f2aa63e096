"""SECURITY.md's attack table names tests that exist: the table cannot outlive its tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_test_named_in_security_md_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    named = set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)`", text))
    named |= set(re.findall(r"::(test_\w+)`", text))
    assert len(named) >= 20
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = sorted(name for name in named if f"def {name}(" not in sources)
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
