"""Behind real nginx, HAProxy and Caddy (docs/hosting.md's snippets): caps and bans count people.

Each person connects from their own loopback address (127.0.5.x) through the proxy to a real
circle-server that trusts the proxy. A ban keeps out fresh keys from the banned person's
address and no one else; ``max_connections_per_ip`` counts each person, not the proxy; a
forwarding header a client writes itself changes nothing. Then the node is stopped, requests
fail at the proxy, and the proxy's logs are searched for any client address.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from circle_client import events as ev
from protocol import limits
from protocol.errors import ErrorCode
from protocol.frames import Hello, ServerHello, decode_frame, encode_frame
from tests.conftest import ServerProcess, start_server
from tests.server.test_config import make_certificate
from tests.support.clients import HANDLES
from tests.support.cluster import RedisProcess, free_port
from tests.support.proxies import (
    AddressedClient,
    Caddy,
    HAProxy,
    Nginx,
    ProxyProcess,
    raw_from,
    trust,
    wait_for,
)

PEOPLE = "127.0.5."  # every client address in these tests starts with this


@pytest.fixture
def node() -> Iterator[ServerProcess]:
    proc = start_server(
        env={"CIRCLE_TRUSTED_PROXIES": "127.0.0.1", "CIRCLE_MAX_CONNECTIONS_PER_IP": "2"}
    )
    yield proc
    proc.stop()


async def seat(url: str, tls: ssl.SSLContext, source: str, fac: AddressedClient, invite: str,
               handle: str) -> AddressedClient:  # fmt: skip
    member = AddressedClient(url, source, tls)
    await member.connect()
    await member.join(invite)
    await member.knock(handle)
    await member.next_event(ev.Admitted)
    return member


async def ban_and_cap(url: str, tls: ssl.SSLContext, cap: bool = True) -> None:
    """The scenario every proxy must pass."""
    fac = AddressedClient(url, PEOPLE + "10", tls)
    await fac.connect()
    invite = str(
        await fac.open_circle(handle=HANDLES[0], title="t", rules="Be gentle.", auto_admit=True)
    )
    a = await seat(url, tls, PEOPLE + "11", fac, invite, HANDLES[1])
    b = await seat(url, tls, PEOPLE + "12", fac, invite, HANDLES[2])
    await fac.moderate("ban", target=a.session.member)
    await a.next_event(ev.Disconnected)
    again = AddressedClient(url, PEOPLE + "11", tls)  # the banned person, with fresh keys
    await again.connect()
    await again.send_join(invite)
    assert (await again.next_event(ev.ErrorReceived)).code == ErrorCode.BANNED
    await again.close()
    c = await seat(url, tls, PEOPLE + "13", fac, invite, HANDLES[3])  # someone else: admitted
    await c.post("still here")
    assert (await b.next_event(ev.MessageReceived)).content.body == "still here"

    for client in (fac, b, c):
        await client.close()
    if not cap:
        return
    # max_connections_per_ip = 2 counts each person; a header written by the client is ignored.
    held = [await said_hello(url, tls, PEOPLE + "21") for _ in range(2)]
    spoofed = await raw_from(url, PEOPLE + "21", tls, headers={"X-Forwarded-For": PEOPLE + "99"})
    with pytest.raises(ConnectionClosed) as info:
        await spoofed.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4009
    held.append(await said_hello(url, tls, PEOPLE + "22"))  # 7 connections through the proxy
    for ws in held:
        await ws.close()


async def said_hello(url: str, tls: ssl.SSLContext, source: str):  # type: ignore[no-untyped-def]
    ws = await raw_from(url, source, tls)
    await ws.send(encode_frame(Hello(version=limits.PROTOCOL_VERSION)))
    assert isinstance(decode_frame(await ws.recv()), ServerHello)
    return ws


def fetch_from(url: str, source: str, tls: ssl.SSLContext) -> int:
    """GET ``url`` from ``source``; the status code (or 0 if the proxy gave none)."""
    import http.client

    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    conn = http.client.HTTPSConnection(
        host, int(port), context=tls, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request("GET", "/" + url.split("//", 1)[1].split("/", 1)[1])
        return conn.getresponse().status
    except (OSError, urllib.error.URLError):
        return 0
    finally:
        conn.close()


def no_metrics_in_public(proxy: ProxyProcess, tls: ssl.SSLContext) -> None:
    assert fetch_from(f"https://127.0.0.1:{proxy.port}/healthz", PEOPLE + "30", tls) == 200
    assert fetch_from(f"https://127.0.0.1:{proxy.port}/metrics", PEOPLE + "30", tls) == 404


def fail_upstream(
    node: ServerProcess, proxy: ProxyProcess, control: int, tls: ssl.SSLContext
) -> None:
    """Stop the node, then make requests through the documented site and the control site."""
    node.stop()
    for port in (proxy.port, control):
        status = fetch_from(f"https://127.0.0.1:{port}/healthz", PEOPLE + "31", tls)
        assert status in (502, 503, 504), status


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path, Path]:
    cert, key = make_certificate(tmp_path)
    pem = tmp_path / "circle.pem"
    pem.write_text(cert.read_text() + key.read_text())
    return cert, key, pem


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def documented(proxy: ProxyProcess) -> str:
    """HAProxy's log lines for the documented frontend ("circle~" over TLS)."""
    return "\n".join(line for line in proxy.logs().splitlines() if line.startswith("circle"))


async def through(
    kind: str, name: str, nodes: list[ServerProcess], ports: list[int], tmp_path: Path,
    certs: tuple[Path, ...], cap: bool = True,
) -> None:  # fmt: skip
    """Start proxy ``kind`` with docs snippet ``name`` in front of ``nodes`` (standing in for
    the documented ``ports``), run the scenario, stop the nodes, then search the logs."""
    cert, key, pem = certs
    control = free_port()
    backends = {port: node.port for port, node in zip(ports, nodes, strict=True)}
    proxy: ProxyProcess
    if kind == "nginx":
        proxy = Nginx(tmp_path / kind)
        proxy.start(backends, cert, key, control, name)
    elif kind == "caddy":
        proxy = Caddy(tmp_path / kind)
        proxy.start(backends, cert, key, control, name)
    else:
        proxy = HAProxy(tmp_path / kind)
        proxy.start(backends, pem, control, name)
    tls = trust(cert)
    try:
        await ban_and_cap(proxy.url(), tls, cap)
        await asyncio.to_thread(no_metrics_in_public, proxy, tls)
        for node in nodes[1:]:
            node.stop()
        await asyncio.to_thread(fail_upstream, nodes[0], proxy, control, tls)
        if kind in ("nginx", "caddy"):
            control_log = proxy.log_dir / f"control-{'error' if kind == 'nginx' else 'default'}.log"
            wait_for(lambda: PEOPLE + "31" in _text(control_log), f"{kind}'s usual log line")
        else:
            wait_for(lambda: PEOPLE + "31" in proxy.logs(), "HAProxy's usual log line")
            wait_for(lambda: " 503 " in documented(proxy), "the documented failure line")
    finally:
        proxy.stop()
    if kind in ("nginx", "caddy"):
        for path in proxy.log_dir.iterdir():
            if not path.name.startswith("control-"):
                assert PEOPLE not in path.read_text(), (path.name, path.read_text())
    else:
        lines = proxy.logs().splitlines()
        mine = [line for line in lines if " control~ " not in line]
        assert documented(proxy), lines  # it did log for the documented frontend...
        assert not [line for line in mine if PEOPLE in line], lines  # ... and named nobody


@pytest.mark.parametrize("kind", ["nginx", "haproxy", "caddy"])
async def test_behind_a_proxy(
    kind: str, node: ServerProcess, tmp_path: Path, certs: tuple[Path, ...]
) -> None:
    await through(kind, kind, [node], [8765], tmp_path, certs)


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
async def test_two_nodes_behind_a_proxy(kind: str, tmp_path: Path, certs: tuple[Path, ...]) -> None:
    """docs/scale-out.md's snippets: a ban on one node holds on the other (the address hash
    salt is shared), and it still keeps out only the banned person."""
    redis = RedisProcess()
    redis.start()
    env = {"CIRCLE_TRUSTED_PROXIES": "127.0.0.1", "CIRCLE_BROKER": redis.url}
    nodes = [start_server(env=env), start_server(env=env)]
    try:
        # Per-address caps count per node (docs/scale-out.md), so only the ban is checked.
        await through(kind, f"{kind}-nodes", nodes, [8801, 8802], tmp_path, certs, cap=False)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
