"""Real websocket clients for tests against a real circle-server process."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from circle_client import events as ev
from circle_client.client import CircleClient
from protocol import limits
from protocol.frames import Hello, ServerHello, decode_frame, encode_frame

HANDLES = ("calm-heron", "quiet-otter", "gentle-lynx", "brave-finch")
BODIES = ("I keep waking at four in the morning", "Same here, every night this month")


async def open_circle(url: str, **kwargs: object) -> tuple[CircleClient, str]:
    fac = CircleClient(url)
    await fac.connect()
    invite = await fac.open_circle(
        handle=HANDLES[0], title="Night owls", rules="Be gentle.", **kwargs
    )
    return fac, str(invite)


async def join(url: str, fac: CircleClient, invite: str, handle: str) -> CircleClient:
    member = CircleClient(url)
    await member.connect()
    rules = await member.join(invite)
    assert rules.rules == "Be gentle."
    await member.knock(handle)
    if not fac.session.auto_admit:
        knock = await fac.next_event(ev.KnockReceived)
        assert knock.handle == handle
        await fac.admit(knock.member)
    await member.next_event(ev.Admitted)
    return member


async def settle(clients: tuple[CircleClient, ...]) -> None:
    """Wait until every client's verified roster lists all of them (rekeys applied)."""
    for client in clients:
        while len(client.session.circle.roster) < len(clients):  # type: ignore[union-attr]
            await client.next_event(ev.RosterChanged)


async def next_message(client: CircleClient, body: str) -> ev.MessageReceived:
    """The message with ``body``, skipping any other message before it."""
    while True:
        msg: ev.MessageReceived = await client.next_event(ev.MessageReceived)
        if msg.content.body == body:
            return msg


async def raw(url: str, **kwargs: Any) -> ClientConnection:
    """A bare websocket that has said hello (``kwargs`` go to ``connect``, e.g. local_addr)."""
    ws = await connect(url, compression=None, proxy=None, **kwargs)
    await ws.send(encode_frame(Hello(version=limits.PROTOCOL_VERSION)))
    assert isinstance(decode_frame(await ws.recv()), ServerHello)
    return ws


async def circle_works(url: str) -> None:
    """Open a fresh circle, seat a member, and see a post go through: the server still serves."""
    fac, invite = await open_circle(url, auto_admit=True)
    member = await join(url, fac, invite, HANDLES[1])
    await settle((fac, member))
    await member.post(BODIES[1])
    assert (await next_message(fac, BODIES[1])).handle == HANDLES[1]
    await member.close()
    await fac.close()


def get(url: str) -> tuple[int, str, dict[str, str]]:
    """A plain HTTP GET (no proxy): status, body, headers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


async def scrape(url: str) -> dict[str, float]:
    """The server's /metrics as ``{'name{labels}': value}``."""
    _, body, _ = await asyncio.to_thread(get, url.replace("ws", "http", 1) + "/metrics")
    ours = ("circle_", "process_")
    pairs = (line.rsplit(" ", 1) for line in body.splitlines() if line.startswith(ours))
    return {name: float(value) for name, value in pairs}


async def metric_reaches(
    url: str, name: str, check: Callable[[float], bool], timeout: float = 5.0
) -> float:
    """Scrape until ``check(value)`` holds: the server counts a close after the peer sees it."""
    async with asyncio.timeout(timeout):
        while True:
            value = (await scrape(url)).get(name, 0.0)
            if check(value):
                return value
            await asyncio.sleep(0.05)
