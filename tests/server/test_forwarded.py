"""The client's address from a trusted proxy, end to end against a real server: an RFC 7239
``Forwarded`` header, and a PROXY protocol v1 line before the handshake (HAProxy
``send-proxy``; v2 is exercised through real HAProxy in test_proxies.py). With a cap of one
connection per address, a second connection for the same person is refused (4009) and one for
another person is not: the cap counts people, not the proxy."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import limits
from protocol.frames import Hello, ServerHello, decode_frame, encode_frame
from tests.conftest import start_server

Opener = Callable[[str, str], Awaitable[ClientConnection]]


async def said_hello(ws: ClientConnection) -> ClientConnection:
    await ws.send(encode_frame(Hello(version=limits.PROTOCOL_VERSION)))
    assert isinstance(decode_frame(await ws.recv()), ServerHello)
    return ws


async def by_forwarded(url: str, person: str) -> ClientConnection:
    header = {"Forwarded": f'for="{person}";proto=https'}
    return await connect(url, compression=None, proxy=None, additional_headers=header)


async def by_proxy_v1(url: str, person: str) -> ClientConnection:
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"PROXY TCP4 {person} 127.0.0.1 40000 {port}\r\n".encode())
    sock.setblocking(False)
    return await connect(url, compression=None, proxy=None, sock=sock)


async def refused(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as info:
        await said_hello(ws)
    return info.value.rcvd.code if info.value.rcvd is not None else None


@pytest.mark.parametrize(("header", "opener"), [("Forwarded", by_forwarded), ("none", by_proxy_v1)])
async def test_the_cap_counts_people_behind_a_trusted_proxy(header: str, opener: Opener) -> None:
    env = {
        "CIRCLE_TRUSTED_PROXIES": "127.0.0.1",
        "CIRCLE_FORWARDED_HEADER": header,
        "CIRCLE_MAX_CONNECTIONS_PER_IP": "1",
    }
    proc = start_server(env=env)
    held: list[ClientConnection] = []
    try:
        held.append(await said_hello(await opener(proc.url, "127.0.6.1")))
        assert await refused(await opener(proc.url, "127.0.6.1")) == 4009  # the same person
        held.append(await said_hello(await opener(proc.url, "127.0.6.2")))  # someone else
        for ws in held:  # both still open
            await asyncio.wait_for(await ws.ping(), 5)
    finally:
        for ws in held:
            await ws.close()
        proc.stop()
