"""Real nginx, HAProxy and Caddy processes in front of real circle-server processes.

The proxy configurations are the snippets in docs/hosting.md, taken from the file as written
(the block after ``<!-- snippet: NAME -->``) with only the ports and certificate paths changed,
so the tests check what a host copies.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from circle_client.client import CircleClient
from tests.conftest import ROOT
from tests.support.cluster import free_port

DOCS = ROOT / "docs"


def snippet(name: str, doc: str = "hosting.md") -> str:
    """The fenced block after ``<!-- snippet: name -->`` in ``docs/<doc>``."""
    text = (DOCS / doc).read_text()
    match = re.search(rf"<!-- snippet: {name} -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"docs/{doc} has no block after <!-- snippet: {name} -->"
    return match.group(1)


def documented(name: str, backends: dict[int, int]) -> str:
    """Snippet ``name`` with the documented node ports replaced by real ones."""
    text = snippet(name, "scale-out.md" if name.endswith("-nodes") else "hosting.md")
    for documented_port, real in backends.items():
        assert f"127.0.0.1:{documented_port}" in text, (name, documented_port)
        text = text.replace(f"127.0.0.1:{documented_port}", f"127.0.0.1:{real}")
    return text


def trust(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts the test certificate (made for CN=localhost)."""
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    return context


class AddressedClient(CircleClient):
    """A Circle client whose connections come from ``source`` (another loopback address), so
    that several people behind one proxy have different addresses, as they would."""

    def __init__(self, url: str, source: str, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(url)
        self.source = source
        self.tls = tls

    async def _open_socket(self) -> ClientConnection:
        return await connect(
            self.server_url,
            compression=None,
            max_size=16 * 1024 * 1024,
            open_timeout=10,
            proxy=None,
            ssl=self.tls,
            local_addr=(self.source, 0),
        )


async def raw_from(
    url: str,
    source: str,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> ClientConnection:
    """A bare websocket from ``source``, before any hello."""
    extra: dict[str, Any] = {"ssl": tls} if tls is not None else {}
    return await connect(
        url,
        compression=None,
        proxy=None,
        local_addr=(source, 0),
        additional_headers=headers,
        **extra,
    )


def wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    """Poll ``check()`` (a log file filling up) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_listening(port: int, timeout: float = 10.0) -> None:
    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    wait_for(accepts, f"a listener on port {port}", timeout)


@dataclass
class ProxyProcess:
    """nginx, HAProxy or Caddy in the foreground with its config and logs in ``directory``."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    def logs(self) -> str:
        """Everything the proxy logged: every file in its log directory."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.iterdir()))

    @property
    def log_dir(self) -> Path:
        path = self.directory / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, command: list[str], env: dict[str, str] | None = None) -> None:
        out = (self.log_dir / "stdout.log").open("wb")
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()
        try:
            wait_listening(self.port)
        except AssertionError:
            raise AssertionError(f"{command[0]} did not start:\n{self.logs()}") from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Nginx(ProxyProcess):
    """docs/hosting.md's nginx site in a minimal nginx.conf whose own logs (main error log at
    info, http access log) also go to files the tests search."""

    def start(
        self, backends: dict[int, int], cert: Path, key: Path, control_port: int, name: str
    ) -> None:
        """Run snippet ``name`` (of docs/hosting.md or, for ``*-nodes``, docs/scale-out.md)
        with each documented node port ``backends`` maps replaced by a real node's."""
        binary = shutil.which("nginx")
        assert binary, "nginx is not installed: apt-get install nginx (.ci/run does)"
        site = (
            documented(name, backends)
            .replace("listen 443 ssl", f"listen 127.0.0.1:{self.port} ssl")
            .replace("/etc/letsencrypt/live/circle.example.org/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/circle.example.org/privkey.pem", str(key))
        )
        # The same site with nginx's usual logging, to show the search would find addresses.
        control = re.sub(
            r"access_log off;.*", f"access_log {self.log_dir}/control-access.log;", site
        )
        control = re.sub(
            r"error_log /dev/null;.*", f"error_log {self.log_dir}/control-error.log;", control
        )
        control = control.replace(f"127.0.0.1:{self.port}", f"127.0.0.1:{control_port}")
        control = re.sub(r"upstream \S+ \{.*?\n\}\n", "", control, flags=re.S)  # defined once
        d = self.directory
        conf = d / "nginx.conf"
        conf.write_text(
            f"""
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {self.log_dir}/main-error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {self.log_dir}/http-access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{site}
{control}
}}
"""
        )
        self.run([binary, "-p", str(d), "-c", str(conf), "-e", str(self.log_dir / "early.log")])


class HAProxy(ProxyProcess):
    """docs/hosting.md's HAProxy sections after a global section that logs to stdout."""

    def start(self, backends: dict[int, int], pem: Path, control_port: int, name: str) -> None:
        """As :meth:`Nginx.start`; ``pem`` is the certificate followed by its key."""
        binary = shutil.which("haproxy")
        assert binary, "haproxy is not installed: apt-get install haproxy (.ci/run does)"
        body = (
            documented(name, backends)
            .replace("bind :443 ssl", f"bind 127.0.0.1:{self.port} ssl")
            .replace("/etc/haproxy/circle.pem", str(pem))
        )
        backend = re.search(r"^backend (\S+)", body, re.M)
        assert backend, body
        # A frontend with HAProxy's usual HTTP log format, to show the search would find
        # addresses if the documented formats let them through.
        control = f"""
frontend control
    option httplog
    bind 127.0.0.1:{control_port} ssl crt {pem}
    default_backend {backend.group(1)}
"""
        conf = self.directory / "haproxy.cfg"
        conf.write_text(f"global\n    log stdout format raw local0 info\n{body}{control}")
        check = subprocess.run([binary, "-c", "-f", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.run([binary, "-db", "-f", str(conf)])


class Caddy(ProxyProcess):
    """docs/hosting.md's Caddyfile, serving the test certificate on a loopback port, with no
    admin endpoint and its state in ``directory``. A second Caddy runs the same file without
    its ``exclude http.log.error`` line, on the control port and logging to
    ``control-default.log``: its error lines name the client, which shows that the exclusion
    is what keeps them out."""

    control: subprocess.Popen[bytes] | None = None

    def start(
        self, backends: dict[int, int], cert: Path, key: Path, control_port: int, name: str
    ) -> None:
        binary = shutil.which("caddy")
        assert binary, "caddy is not installed: apt-get install caddy (.ci/run does)"
        text = documented(name, backends)
        site = f"https://127.0.0.1:{self.port} {{\n    tls {cert} {key}"
        body = text.replace("circle.example.org {", site)
        assert "{\n    log default" in body and "exclude http.log.error" in body, body
        body = body.replace(
            "{\n    log default",
            "{\n    admin off\n    auto_https disable_certs\n    default_sni localhost"
            "\n    log default",
            1,
        )
        control = re.sub(r"\n\s*exclude http\.log\.error[^\n]*", "", body)
        control = control.replace(f"127.0.0.1:{self.port} ", f"127.0.0.1:{control_port} ")
        self.run(*self._command(binary, "documented", body))
        out = (self.log_dir / "control-default.log").open("wb")
        command, env = self._command(binary, "control", control)
        self.control = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()
        wait_listening(control_port)

    def _command(self, binary: str, name: str, text: str) -> tuple[list[str], dict[str, str]]:
        home = self.directory / name
        home.mkdir(exist_ok=True)
        conf = home / "Caddyfile"
        conf.write_text(text)
        env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
        env["XDG_CONFIG_HOME"] = str(home / "config")
        env["PATH"] = "/usr/bin:/bin"
        check = subprocess.run(
            [binary, "validate", "--config", str(conf), "--adapter", "caddyfile"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        return [binary, "run", "--config", str(conf), "--adapter", "caddyfile"], env

    def stop(self) -> None:
        super().stop()
        if self.control is not None and self.control.poll() is None:
            self.control.terminate()
            self.control.wait(10)
