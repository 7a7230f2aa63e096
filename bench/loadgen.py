"""Load generator: members in circles, timed posts, deliveries and latency measured on receipt.

The same load runs against the bare relay and against circle-server. Against circle-server,
members really join (proof, knock, auto-admit welcome, rekeys) through the client session;
then posts are sent as ``post`` frames whose ciphertext field carries a marker, a counter and
the send time, so receivers time deliveries without decrypting (the server cannot tell).
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from circle_client import events as ev
from circle_client.session import Session
from protocol.frames import Envelope, Post, decode_frame, encode_frame

MARK = b"BNCH"
PAYLOAD = 256  # bytes of "ciphertext" per post, like a padded short message


def payload(counter: int) -> bytes:
    head = MARK + struct.pack("<Qd", counter, time.monotonic())
    return head + bytes(PAYLOAD - len(head))


def read_send_time(data: bytes) -> float | None:
    index = data.find(MARK)
    if index < 0:
        return None
    return float(struct.unpack_from("<d", data, index + 12)[0])


async def ws_connect(url: str) -> ClientConnection:
    return await connect(url, compression=None, proxy=None, max_size=2**20, ping_interval=None)


@dataclass
class Member:
    ws: ClientConnection
    circle: int
    make: object = None  # callable counter -> bytes


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    deliveries: int = 0


# ---------------------------------------------------------------- circle-server setup


async def _drive(session: Session, ws: ClientConnection, until: type[ev.Event]) -> ev.Event:
    while True:
        for frame in session.take_outgoing():
            await ws.send(encode_frame(frame))
        for event in session.receive(decode_frame(await ws.recv())):
            if isinstance(event, until):
                for frame in session.take_outgoing():
                    await ws.send(encode_frame(frame))
                return event
            if isinstance(event, ev.ErrorReceived):
                raise RuntimeError(event.message)


async def circle_open(url: str) -> tuple[Session, ClientConnection, str]:
    session = Session()
    ws = await ws_connect(url)
    await _drive(session, ws, ev.Connected)
    session.open_circle(
        url,
        handle="bench-host",
        title="bench",
        rules="r",
        minutes=180,
        capacity=50,
        auto_admit=True,
    )
    opened = await _drive(session, ws, ev.CircleOpened)
    assert isinstance(opened, ev.CircleOpened)
    return session, ws, str(opened.invite)


async def circle_join(url: str, invite: str, handle: str) -> ClientConnection:
    session = Session()
    ws = await ws_connect(url)
    await _drive(session, ws, ev.Connected)
    session.join(invite)
    await _drive(session, ws, ev.RulesToAccept)
    session.accept_rules(handle)
    await _drive(session, ws, ev.Admitted)
    return ws


async def serve_facilitator(session: Session, ws: ClientConnection, stop: asyncio.Event) -> None:
    """Keep the facilitator's session answering knocks (auto-admit) until ``stop``."""
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(ws.recv(), 0.2)
        except TimeoutError:
            continue
        session.receive(decode_frame(data))
        for frame in session.take_outgoing():
            await ws.send(encode_frame(frame))


def circle_post(counter: int) -> bytes:
    env = Envelope(
        epoch=1, seq=1 + counter % 10**9, nonce=bytes(24), ct=payload(counter), sig=bytes(64)
    )
    return encode_frame(Post(env=env))


async def setup_circle(
    url: str | list[str], circles: int, per_circle: int
) -> tuple[list[Member], list[float]]:
    """Open circles and fill them through the real join flow; returns members, join times.

    With several node URLs, circle ``c`` is opened on node ``c % n`` and its members are
    spread over all nodes in turn, so most deliveries cross nodes."""
    urls = [url] if isinstance(url, str) else url
    members: list[Member] = []
    join_times: list[float] = []
    for c in range(circles):
        session, fac_ws, invite = await circle_open(urls[c % len(urls)])
        stop = asyncio.Event()
        helper = asyncio.create_task(serve_facilitator(session, fac_ws, stop))
        members.append(Member(fac_ws, c, circle_post))
        for i in range(per_circle - 1):
            started = time.perf_counter()
            ws = await circle_join(urls[(c + i + 1) % len(urls)], invite, f"member-{c}-{i}")
            join_times.append(time.perf_counter() - started)
            members.append(Member(ws, c, circle_post))
        stop.set()
        await helper
    return members, join_times


# ---------------------------------------------------------------- relay setup


async def setup_relay(url: str, circles: int, per_circle: int) -> list[Member]:
    members = []
    for c in range(circles):
        for _ in range(per_circle):
            members.append(Member(await ws_connect(f"{url.rstrip('/')}/room{c}"), c, payload))
    return members


# ---------------------------------------------------------------- measurement


async def _reader(member: Member, stats: Stats, stop: asyncio.Event) -> None:
    ws = member.ws
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(ws.recv(), 0.25)
        except TimeoutError:
            continue
        if isinstance(data, bytes):
            sent = read_send_time(data)
            if sent is not None:
                stats.deliveries += 1
                stats.latencies.append(time.monotonic() - sent)


async def drain(members: list[Member], seconds: float = 0.5) -> None:
    """Read and drop whatever is still queued from setup."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_reader(m, Stats(), stop)) for m in members]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)


async def offered_load(
    members: list[Member], posts_per_second: float, seconds: float
) -> tuple[Stats, float]:
    """Send posts at a fixed total rate from rotating senders; return stats and elapsed time."""
    stats = Stats()
    stop = asyncio.Event()
    readers = [asyncio.create_task(_reader(m, stats, stop)) for m in members]
    interval = 1.0 / posts_per_second
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) / interval) + 1
        while sent < due:
            member = members[(sent * 7919) % len(members)]
            await member.ws.send(member.make(sent))  # type: ignore[operator]
            sent += 1
        await asyncio.sleep(interval / 2)
    elapsed = time.monotonic() - start
    await asyncio.sleep(1.0)  # let in-flight deliveries land
    stop.set()
    await asyncio.gather(*readers)
    return stats, elapsed


async def close_all(members: list[Member]) -> None:
    await asyncio.gather(*(m.ws.close() for m in members), return_exceptions=True)
