"""The ``circle`` command line: help, argument errors, and the facilitator key file."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from circle_client import cli
from protocol import crypto


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circle_client.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_help_explains_commands_and_safety_keys() -> None:
    result = run("--help")
    assert result.returncode == 0
    for words in (
        "circle join",
        "circle open",
        "facilitator init",
        "Ctrl+X quick exit",
        "F2",
    ):
        assert words in result.stdout


def test_bad_invite_is_refused_before_the_tui_starts() -> None:
    result = run("join", "https://example.org/nope")
    assert result.returncode == 2
    assert "should start with circle://" in result.stderr


def test_bad_server_address() -> None:
    result = run("--server", "example.org", "open")
    assert result.returncode == 2
    assert "ws:// or wss://" in result.stderr


def test_facilitator_init_writes_a_locked_key_only_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["correct horse battery", "correct horse battery"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))
    path = tmp_path / "keys" / "facilitator.key"
    assert cli.facilitator_init(path) == 0
    blob = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    seed = crypto.unlock_seed(blob, "correct horse battery")
    assert len(seed) == 32
    assert seed not in blob
    assert cli.facilitator_init(path) == 1  # never overwrites


def test_facilitator_init_refuses_short_or_mismatched_passphrases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for answers in (["short"], ["long enough passphrase", "different passphrase!"]):
        it = iter(answers)
        monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="", it=it: next(it))
        assert cli.facilitator_init(tmp_path / "k.key") == 1
        assert not (tmp_path / "k.key").exists()


def test_a_trusted_key_must_be_a_key() -> None:
    result = run("--trust-key", "not-a-key", "join", "--handle", "x")
    assert result.returncode == 2
    assert "64 hex digits" in result.stderr


def test_trusted_keys_reach_the_session() -> None:
    from circle_client.cli import trusted_keys

    key = "ab" * 32
    assert trusted_keys([key, key.upper()]) == frozenset({bytes.fromhex(key)})
