"""circle-server settings: every mistake in a file stops the server with the key's name."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from circle_server.config import SETTINGS, ConfigError, broker_url, load_config
from protocol import limits
from protocol.frames import Hello, ServerHello, decode_frame, encode_frame
from tests.conftest import ROOT
from tests.support.proxies import snippet


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "circle-server.toml"
    path.write_text(text)
    return path


def test_server_table_and_top_level_both_work(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[server]\nport = 9001\n"), env={}).port == 9001
    assert load_config(write(tmp_path, "port = 9002\n"), env={}).port == 9002


def test_server_that_is_not_a_table_names_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'server' in .* must be a table"):
        load_config(write(tmp_path, "server = 5\n"), env={})


def test_top_level_key_beside_a_server_table_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'max_members = 20\n[server]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=r"'max_members' in .* outside the \[server\] table"):
        load_config(path, env={})


def test_unknown_setting_inside_the_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'max_memebers'"):
        load_config(write(tmp_path, "[server]\nmax_memebers = 20\n"), env={})


def test_default_capacity_is_not_a_setting(tmp_path: Path) -> None:
    """Every circle states its capacity when it opens; the server has nothing to default."""
    assert "default_capacity" not in SETTINGS
    with pytest.raises(ConfigError, match="unknown setting 'default_capacity'"):
        load_config(write(tmp_path, "default_capacity = 12\n"), env={})


def test_missing_tls_files_name_the_setting(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    env = {"CIRCLE_TLS_CERT": str(tmp_path / "nope.pem"), "CIRCLE_TLS_KEY": str(key)}
    with pytest.raises(ConfigError, match=r"'tls_cert': cannot read .*nope\.pem"):
        load_config(env=env)
    env = {"CIRCLE_TLS_CERT": str(cert), "CIRCLE_TLS_KEY": str(tmp_path)}  # a directory
    with pytest.raises(ConfigError, match=r"'tls_key': cannot read"):
        load_config(env=env)


def test_swapped_or_mismatched_tls_files_name_the_setting(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    with pytest.raises(ConfigError, match="'tls_cert': .* holds no PEM certificate"):
        load_config(env={"CIRCLE_TLS_CERT": str(key), "CIRCLE_TLS_KEY": str(cert)})
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other_key = make_certificate(other_dir)
    with pytest.raises(ConfigError, match="'tls_key': .* is not the unencrypted PEM private key"):
        load_config(env={"CIRCLE_TLS_CERT": str(cert), "CIRCLE_TLS_KEY": str(other_key)})
    assert load_config(env={"CIRCLE_TLS_CERT": str(cert), "CIRCLE_TLS_KEY": str(key)}).tls_key


def test_cli_reports_a_bad_tls_setting_not_a_busy_port(tmp_path: Path) -> None:
    path = write(tmp_path, f'tls_cert = "{tmp_path}/missing.pem"\ntls_key = "{tmp_path}/k.pem"\n')
    result = subprocess.run(
        [sys.executable, "-m", "circle_server.cli", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "'tls_cert': cannot read" in result.stderr
    assert "another server" not in result.stderr


def test_cli_names_server_when_it_is_not_a_table(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "circle_server.cli", "--config", str(write(tmp_path, "server = 5"))],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "'server'" in result.stderr and "Traceback" not in result.stderr


async def test_good_tls_files_serve_wss(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    env = {**os.environ, "CIRCLE_TLS_CERT": str(cert), "CIRCLE_TLS_KEY": str(key)}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "circle_server.cli", "--port", "0"),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "listening on wss://127.0.0.1:" in line, line
        port = int(line.rstrip("/\n").rsplit(":", 1)[1])
        trust = ssl.create_default_context(cafile=str(cert))
        trust.check_hostname = False
        async with connect(f"wss://127.0.0.1:{port}/", ssl=trust, proxy=None) as ws:
            await ws.send(encode_frame(Hello(version=limits.PROTOCOL_VERSION)))
            assert isinstance(decode_frame(await ws.recv()), ServerHello)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for localhost, made with the openssl command."""
    assert shutil.which("openssl"), "openssl makes the test certificate (.ci/run installs it)"
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def test_cli_says_a_busy_port_is_busy() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "circle_server.cli", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Is another server running?" in result.stderr


def test_every_setting_is_in_the_hosting_reference() -> None:
    reference = (ROOT / "docs" / "hosting.md").read_text()
    missing = [name for name in SETTINGS if f"| `{name}` |" not in reference]
    assert not missing, f"docs/hosting.md's configuration table lacks {missing}"


def test_proxy_settings_are_checked(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'), env={})
    assert config.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    with pytest.raises(ConfigError, match="'trusted_proxies': 'proxy.lan' is not an IP address"):
        load_config(env={"CIRCLE_TRUSTED_PROXIES": "127.0.0.1,proxy.lan"})
    with pytest.raises(ConfigError, match="'forwarded_header': must be"):
        load_config(env={"CIRCLE_FORWARDED_HEADER": "X-Real-IP"})
    with pytest.raises(ConfigError, match="'metrics_listen': must be HOST:PORT"):
        load_config(env={"CIRCLE_METRICS_LISTEN": "9765"})
    with pytest.raises(ConfigError, match="'send_buffer_bytes': must be larger"):
        load_config(env={"CIRCLE_SEND_BUFFER_BYTES": "1024"})


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circle_server.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_toml_values_keep_their_types(tmp_path: Path) -> None:
    for text, message in (
        ('port = "8765"', "'port' in .* must be a whole number, not '8765'"),
        ('lobby = "yes"', "'lobby' in .* must be true or false"),
        ('trusted_proxies = "127.0.0.1"', "'trusted_proxies' in .* must be a list of strings"),
        ("guidelines = 5", "'guidelines' in .* must be a string"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path, text + "\n"), env={})
    assert load_config(write(tmp_path, "rate_per_second = 2\n"), env={}).rate_per_second == 2.0
    assert load_config(env={"CIRCLE_PORT": "9001"}).port == 9001  # variables are text


def test_check_config_lists_every_problem_and_suggests_names(tmp_path: Path) -> None:
    bad = write(tmp_path, '[server]\nmax_memebers = 20\nport = "1"\nmax_circles = 0\n')
    result = cli("--check-config", str(bad))
    assert result.returncode == 2
    assert "did you mean 'max_members'?" in result.stderr
    assert "'port'" in result.stderr and "whole number" in result.stderr
    good = write(tmp_path, "[server]\nmax_circles = 3\n")
    result = cli("--check-config", str(good))
    assert (result.returncode, result.stderr) == (0, "")
    assert "is valid" in result.stdout
    semantic = write(tmp_path, "[server]\nmax_circles = 0\nrate_burst = 0\n")
    result = cli("--check-config", str(semantic))
    assert result.returncode == 2
    assert "'max_circles'" in result.stderr and "'rate_burst'" in result.stderr  # both listed


def test_the_example_config_in_hosting_md_passes_check_config(tmp_path: Path) -> None:
    """A host copies the example as it stands: it must be valid, and trust the local proxy."""
    example = snippet("example-config")
    result = cli("--check-config", str(write(tmp_path, example)))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    config = load_config(write(tmp_path, example), env={})
    assert config.host == "127.0.0.1" and config.trusted_proxies


def test_print_config_masks_the_broker_password_and_reads_back(tmp_path: Path) -> None:
    env = {"CIRCLE_BROKER": "redis://:hunter2-long-secret@10.0.0.5:6379/0"}
    result = cli("--print-config", env=env)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert 'broker = "redis://:****@10.0.0.5:6379/0"' in result.stdout
    printed = write(tmp_path, result.stdout)
    assert load_config(printed, env={}).crisis_resources == load_config(env={}).crisis_resources


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("circle-server 0.")


def test_the_redis_password_comes_from_a_file_and_is_never_printed(tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("p@ss word/with:odd\n")
    env = {"CIRCLE_BROKER": "redis://10.0.0.5:6379/0", "CIRCLE_BROKER_PASSWORD_FILE": str(secret)}
    assert broker_url(load_config(env=env)) == "redis://:p%40ss%20word%2Fwith%3Aodd@10.0.0.5:6379/0"
    assert "p@ss" not in cli("--print-config", env=env).stdout
    env["CIRCLE_BROKER_PASSWORD_FILE"] = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match="'broker_password_file': cannot read"):
        load_config(env=env)


def test_frames_too_small_for_a_post_quantum_key_change_are_refused(tmp_path: Path) -> None:
    """A host lowering max_frame_bytes would break every rekey of a full suite-2 circle."""
    with pytest.raises(
        ConfigError, match="max_frame_bytes.*post-quantum key change for a circle of 50"
    ):
        load_config(write(tmp_path, "max_frame_bytes = 16384\n"), env={})
    small = load_config(write(tmp_path, "max_frame_bytes = 16384\nmax_members = 12\n"), env={})
    assert small.max_frame_bytes >= limits.hybrid_commit_frame_bytes(small.max_members)
