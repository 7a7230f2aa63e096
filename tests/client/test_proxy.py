"""A full session through a real SOCKS5 proxy (microsocks), as over Tor (so a person at risk can
hide their address from the host). With socks5h the proxy, not the client, resolves the
server's name: microsocks logs the name it was asked for."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from circle_client import events as ev
from circle_client.client import CircleClient, ConnectError
from circle_client.proxy import ProxySettingError, check_proxy, proxy_from_environment, shown
from protocol.invite import Invite
from tests.conftest import ROOT, ServerProcess
from tests.support.clients import BODIES, HANDLES, next_message, settle
from tests.support.cluster import free_port
from tests.support.proxies import wait_for, wait_listening


@dataclass
class Socks:
    """microsocks on a free loopback port, logging to ``log``."""

    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"


@pytest.fixture
def socks(tmp_path: Path) -> Iterator[Socks]:
    binary = shutil.which("microsocks")
    assert binary, "microsocks is the SOCKS5 proxy here: apt-get install microsocks (.ci/run does)"
    proxy = Socks(free_port(), tmp_path / "microsocks.log")
    with proxy.log.open("w") as log:
        process = subprocess.Popen(
            [binary, "-i", "127.0.0.1", "-p", str(proxy.port)], stdout=log, stderr=log
        )
    wait_listening(proxy.port)
    yield proxy
    process.terminate()
    process.wait(10)


async def test_a_session_through_a_socks5_proxy(server: ServerProcess, socks: Socks) -> None:
    url = f"ws://localhost:{server.port}"  # a name: resolved by the proxy (socks5h)
    fac = CircleClient(url, proxy=socks.url)
    await fac.connect()
    invite = str(await fac.open_circle(handle=HANDLES[0], title="t", rules="r", auto_admit=True))
    member = CircleClient(url, proxy=socks.url)
    await member.connect()
    await member.join(invite)
    await member.knock(HANDLES[1])
    await member.next_event(ev.Admitted)
    await settle((fac, member))
    await member.post(BODIES[0])
    assert (await next_message(fac, BODIES[0])).handle == HANDLES[1]
    asked = f"connected to localhost:{server.port}"
    wait_for(lambda: socks.log.read_text().count(asked) >= 2, "both connections in its log")
    await member.close()
    await fac.close()


async def test_all_proxy_is_used_and_a_dead_proxy_says_so(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"socks5h://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ALL_PROXY", dead)
    client = CircleClient(server.url)
    assert client.proxy == dead
    with pytest.raises(ConnectError, match="through the proxy .* Check that Tor"):
        await client.connect(timeout=5)


def test_proxy_urls() -> None:
    assert check_proxy("socks5h://127.0.0.1:9050") == "socks5h://127.0.0.1:9050"
    for bad in ("http://127.0.0.1:8080", "socks5h://127.0.0.1", "127.0.0.1:9050"):
        with pytest.raises(ProxySettingError, match="not a SOCKS5 address"):
            check_proxy(bad)
    assert proxy_from_environment({"ALL_PROXY": "http://corp:3128"}) is None  # not ours
    assert (
        proxy_from_environment({"all_proxy": "socks5://10.0.0.1:1080"}) == "socks5://10.0.0.1:1080"
    )
    assert shown("socks5h://me:secret@127.0.0.1:9050") == "socks5h://me:****@127.0.0.1:9050"


def test_cli_refuses_a_proxy_that_is_not_socks5() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "circle_client.cli", "--proxy", "http://x:1", "join", "bad"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not a SOCKS5 address" in result.stderr


def test_invites_for_an_onion_service_round_trip() -> None:
    from protocol import crypto

    onion = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion"
    fpr = crypto.fingerprint(crypto.SigningKeys.generate().public)
    invite = Invite.create(f"ws://{onion}:80", fpr)
    again = Invite.parse(str(invite))
    assert (again.host, again.port, again.tls) == (onion, 80, False)
    assert again.server_url == f"ws://{onion}:80/"


class OnionProxy:
    """A SOCKS5 proxy that plays Tor's part for one onion service: it takes names only (as
    Tor does with socks5h), connects ``.onion`` names to the local server (where Tor would
    reach the service) and refuses every other name. It records what it was asked for."""

    def __init__(self, service_port: int) -> None:
        self.service_port = service_port
        self.asked: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")  # no authentication
            _, command, _, kind = await reader.readexactly(4)
            if command != 1 or kind != 3:  # CONNECT to a name only: never an address
                writer.write(b"\x05\x08\x00\x01" + bytes(6))
                return
            name = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.asked.append(f"{name}:{port}")
            if not name.endswith(".onion"):
                writer.write(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.service_port)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_a_session_with_an_onion_invite(server: ServerProcess) -> None:
    """An onion service: the facilitator opens on the .onion address, the invite carries it,
    and a member who has only the invite reaches the circle through the proxy by that name."""
    onion = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion"
    tor = OnionProxy(server.port)
    listening = await asyncio.start_server(tor.serve, "127.0.0.1", 0)
    proxy = f"socks5h://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    fac = CircleClient(f"ws://{onion}:80", proxy=proxy)
    member: CircleClient | None = None
    try:
        await fac.connect()
        invite = await fac.open_circle(handle=HANDLES[0], title="t", rules="r", auto_admit=True)
        assert invite.host == onion
        member = CircleClient(Invite.parse(str(invite)).server_url, proxy=proxy)
        await member.connect()
        await member.join(str(invite))
        await member.knock(HANDLES[1])
        await member.next_event(ev.Admitted)
        await settle((fac, member))
        await member.post(BODIES[0])
        assert (await next_message(fac, BODIES[0])).handle == HANDLES[1]
        assert tor.asked == [f"{onion}:80", f"{onion}:80"]  # by name, both of them
    finally:
        for client in (member, fac):
            if client is not None:
                await client.close()
        listening.close()
