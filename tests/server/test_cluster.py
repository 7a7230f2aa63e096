"""Scale-out (F21, P6): real circle-server nodes sharing circles through a real redis-server.

Members of one circle sit on different nodes; every server-enforced rule holds across them;
a closed circle leaves no key in Redis; a node can die and Redis can restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from circle_client import events as ev
from circle_client.client import CircleClient, ConnectError
from protocol.errors import ErrorCode
from protocol.frames import decode_frame
from tests.conftest import ServerProcess, start_server
from tests.support.clients import join, open_circle, settle
from tests.support.clients import next_message as message
from tests.support.cluster import Balancer, RedisProcess

E = TypeVar("E")

HANDLES = ("calm-heron", "quiet-otter", "gentle-lynx", "brave-finch", "soft-wren")
BODIES = (
    "I have not told anyone at work about the diagnosis",
    "That sounds heavy to carry alone",
    "Some days I only manage to get up",
)


@pytest.fixture
def redis_proc() -> Iterator[RedisProcess]:
    proc = RedisProcess()
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def redis_client(redis_proc: RedisProcess) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_proc.url)
    yield client
    await client.aclose()


@pytest.fixture
def nodes(redis_proc: RedisProcess) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        node = start_server("--broker", redis_proc.url, *args, env=env)
        started.append(node)
        return node

    yield start
    for node in started:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait(10)
        assert node.process.stdout is not None
        node.process.stdout.close()


async def refused_join(url: str, invite: str) -> str:
    """Try to join through ``url``; return the server's refusal, lower-cased."""
    client = CircleClient(url)
    await client.connect()
    try:
        with pytest.raises(ConnectError) as refusal:
            await client.join(invite)
            await client.knock(HANDLES[4])
            await client.next_event(ev.Admitted)
    finally:
        await client.close()
    return str(refusal.value).lower()


async def error(client: CircleClient) -> ErrorCode:
    err: ev.ErrorReceived = await client.next_event(ev.ErrorReceived)
    return ErrorCode(err.code)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll a condition outside our process (Redis, /healthz) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def stored_up_to(redis: Redis, circle: bytes, client: CircleClient) -> None:
    """Wait until the owner has stored (BUFFER_DELAY) every frame ``client`` has seen: a frame
    newer than the last stored one could not be told apart from a lost one by a next owner."""

    async def caught_up() -> bool:
        last = await redis.lindex(f"circle:buf:{circle.hex()}", -1)
        stored = getattr(decode_frame(last), "rseq", 0) if isinstance(last, bytes) else 0
        return bool(stored >= client.session.last_rseq)

    await eventually(caught_up, "the owner to store what it relayed")


async def circle_keys(redis: Redis, circle: bytes) -> list[bytes]:
    keys = [bytes(k) for k in await redis.keys(f"*{circle.hex()}*") if isinstance(k, bytes)]
    listed = await redis.zscore("circle:lobby", circle)
    return keys + ([b"circle:lobby"] if listed is not None else [])


def health(node: ServerProcess) -> int:
    url = node.url.replace("ws://", "http://") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_a_session_across_nodes_keeps_every_rule(
    nodes: Callable[..., ServerProcess], redis_client: Redis
) -> None:
    a, b, c = nodes(), nodes(), nodes()
    commands: list[bytes] = []
    watching = asyncio.Event()
    monitor = asyncio.create_task(record_commands(redis_client, commands, watching))
    await watching.wait()

    fac, invite = await open_circle(a.url, capacity=4)
    m1 = await join(b.url, fac, invite, HANDLES[1])
    m2 = await join(c.url, fac, invite, HANDLES[2])
    await settle((fac, m1, m2))

    await m1.post(BODIES[0])  # node b -> owner a -> nodes a, c
    for reader in (fac, m2):
        msg = await message(reader, BODIES[0])
        assert msg.handle == HANDLES[1]
    await fac.post(BODIES[1])
    assert (await message(m2, BODIES[1])).handle == HANDLES[0]
    assert len({m.session.fingerprint() for m in (fac, m1, m2)}) == 1

    # Mute, slow mode and go-around turns, enforced by the owner for a member on another node.
    await fac.moderate("mute", target=m1.session.member, minutes=5)
    notice = await m2.next_event(ev.NoticeReceived)
    assert notice.text == f"{HANDLES[1]} was muted for 5 min"
    await m1.post("am I muted")
    assert await error(m1) == ErrorCode.MUTED
    await fac.moderate("unmute", target=m1.session.member)
    await fac.moderate("slow", seconds=60)
    await m2.post(BODIES[2])
    await message(fac, BODIES[2])
    await m2.post("and again at once")
    assert await error(m2) == ErrorCode.SLOW_MODE
    await fac.moderate("slow", seconds=0)
    order = (m1.session.member, m2.session.member)
    await fac.moderate("round_start", order=order)
    await m2.next_event(ev.RoundChanged)
    await m2.post("my turn?")
    assert await error(m2) == ErrorCode.NOT_YOUR_TURN
    await fac.moderate("round_end")

    # Capacity 4 holds across nodes: a fourth joins on a, a fifth is refused on c.
    m3 = await join(a.url, fac, invite, HANDLES[3])
    assert "full" in await refused_join(c.url, invite)

    # Lock: no new admissions, whichever node a joiner comes through.
    await fac.moderate("remove", target=m3.session.member)
    assert "removed" in (await m3.next_event(ev.Disconnected)).reason
    await fac.moderate("lock")
    await m1.next_event(ev.NoticeReceived)
    assert "not admitting" in await refused_join(b.url, invite)
    await fac.moderate("unlock")
    await m1.next_event(ev.NoticeReceived)

    # A decline reaches a knock that came through another node.
    knocker = CircleClient(c.url)
    await knocker.connect()
    await knocker.join(invite)
    await knocker.knock(HANDLES[4])
    await fac.decline((await fac.next_event(ev.KnockReceived)).member)
    assert isinstance(await knocker.next_event(ev.Declined), ev.Declined)
    await knocker.close()

    # A ban reaches a member on another node, and holds for its address on every node: the
    # nodes hash addresses with one shared salt (all test clients come from 127.0.0.1).
    await fac.moderate("ban", target=m2.session.member)
    await m2.next_event(ev.Disconnected)
    assert "cannot join" in await refused_join(b.url, invite)

    # Extend and close: every node's members hear it; no key of the circle is left.
    await fac.moderate("extend", minutes=10)
    timer = await m1.next_event(ev.TimerChanged)
    assert timer.ends_at > time.time() + 60 * 60
    circle = fac.session.circle.circle_id  # type: ignore[union-attr]
    assert await circle_keys(redis_client, circle)
    await fac.moderate("close")
    assert (await m1.next_event(ev.CircleClosed)).reason == "facilitator"
    await eventually(lambda: _no_keys(redis_client, circle), "Redis to forget the closed circle")
    monitor.cancel()
    for client in (fac, m1, m2, m3):
        await client.close()

    # Only ciphertext and opaque ids reached Redis: no body or handle in any command.
    assert commands, "MONITOR recorded nothing"
    seen = b"\n".join(commands)
    for secret in (*BODIES, *HANDLES, "Be gentle."):
        assert secret.encode() not in seen
        assert repr(secret.encode())[2:-1].encode() not in seen
    for node in (a, b, c):
        node.stop()
        assert not [line for line in node.output if "DISK-WRITE" in line], node.output


async def _no_keys(redis: Redis, circle: bytes) -> bool:
    return not await circle_keys(redis, circle)


async def record_commands(redis: Redis, into: list[bytes], watching: asyncio.Event) -> None:
    async with redis.monitor() as monitor:  # entered once Redis has answered MONITOR
        watching.set()
        async for command in monitor.listen():
            into.append(str(command.get("command", "")).encode())


async def test_knocks_and_admission_cross_nodes_and_the_lobby_lists_everywhere(
    nodes: Callable[..., ServerProcess],
) -> None:
    a, b = nodes(), nodes()
    fac, invite = await open_circle(a.url, listed=True)
    member = await join(b.url, fac, invite, HANDLES[1])  # knock crossed to a, admit came back
    seeker = CircleClient(b.url)
    await seeker.connect()

    async def listed_on_b() -> bool:
        await seeker.request_lobby()
        lobby: ev.LobbyListed = await seeker.next_event(ev.LobbyListed)
        return any(c.title == "Night owls" for c in lobby.circles)

    await eventually(listed_on_b, "the circle opened on a to be listed on b")
    for client in (fac, member, seeker):
        await client.close()


async def test_a_circle_id_is_unique_across_nodes(
    nodes: Callable[..., ServerProcess], redis_client: Redis
) -> None:
    a = nodes()
    fac, _ = await open_circle(a.url)
    circle = fac.session.circle.circle_id  # type: ignore[union-attr]
    assert await redis_client.hget(f"circle:c:{circle.hex()}", "owner") is not None
    await fac.close()


async def test_timers_fire_once_and_expiry_closes_on_every_node(
    nodes: Callable[..., ServerProcess], redis_client: Redis
) -> None:
    a, b = nodes(), nodes()
    # Two minutes: the 5-minute warning fires at once (perhaps before the member is in), the
    # 1-minute one a minute later with everyone there, and the end a minute after that.
    fac, invite = await open_circle(a.url, minutes=2, auto_admit=True)
    circle = fac.session.circle.circle_id  # type: ignore[union-attr]
    member = await join(b.url, fac, invite, HANDLES[1])
    warnings: list[int | None] = []
    while True:
        event = await member.next_event(timeout=130)
        if isinstance(event, ev.TimerChanged) and event.warning is not None:
            warnings.append(event.warning)
        if isinstance(event, ev.CircleClosed):
            assert event.reason == "time_up"
            break
    assert warnings.count(1) == 1 and set(warnings) <= {5, 1}  # by the owner only, once
    await eventually(lambda: _no_keys(redis_client, circle), "Redis to forget the ended circle")
    await fac.close()
    await member.close()


async def test_a_forwarding_node_dies_and_its_members_resume_on_another(
    nodes: Callable[..., ServerProcess],
) -> None:
    a, b, c = nodes(), nodes(), nodes()
    balancer = Balancer([b.port, c.port])
    await balancer.start()
    fac, invite = await open_circle(a.url, auto_admit=True)
    member = await join(balancer.url, fac, invite, HANDLES[1])  # lands on b
    await settle((fac, member))
    await member.post(BODIES[0])
    await message(fac, BODIES[0])

    b.process.kill()  # no goodbye: the node is gone
    await member.next_event(ev.Reconnecting)
    await fac.post(BODIES[1])  # while the member is between nodes
    resumed = await member.next_event(ev.Resumed)  # through c, to the owner a
    assert not resumed.lost
    assert (await message(member, BODIES[1])).handle == HANDLES[0]
    await fac.post(BODIES[2])
    got = await member.next_event(ev.MessageReceived)
    assert got.content.body == BODIES[2]  # nothing delivered twice in between
    await member.post("back again")
    await message(fac, "back again")
    await balancer.stop()
    for client in (fac, member):
        await client.close()


async def until(client: CircleClient, kind: type[E], seen: list[object]) -> E:
    """The next event of ``kind``, keeping every event before it in ``seen``."""
    async with asyncio.timeout(15):
        while True:
            event = await client.events.get()
            seen.append(event)
            if isinstance(event, kind):
                return event


async def test_the_owner_dies_and_the_circle_lives_on_another_node(
    nodes: Callable[..., ServerProcess], redis_client: Redis
) -> None:
    a, b = nodes(), nodes()
    balancer = Balancer([a.port, b.port])
    await balancer.start()
    fac, invite = await open_circle(balancer.url, auto_admit=True)  # opened on a: a owns it
    member = await join(b.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    await fac.post(BODIES[0])
    await message(member, BODIES[0])
    # The owner stores relayed frames in batches (BUFFER_DELAY); a frame newer than the last
    # stored one could not be told apart from a lost one by the next owner.
    circle = fac.session.circle.circle_id  # type: ignore[union-attr]

    await stored_up_to(redis_client, circle, member)
    a.process.kill()
    # b notices, moves its member to resume; b takes the circle over from its snapshot. The
    # member resumes first: the facilitator is on its way, not gone.
    seen: dict[CircleClient, list[object]] = {fac: [], member: []}
    await until(member, ev.Reconnecting, seen[member])
    resumed = await until(member, ev.Resumed, seen[member])
    assert not resumed.lost
    await until(fac, ev.Resumed, seen[fac])  # through the balancer, now to b
    await member.post(BODIES[1])
    assert (await until(fac, ev.MessageReceived, seen[fac])).handle == HANDLES[1]
    await fac.post(BODIES[2])
    bodies = [(await until(member, ev.MessageReceived, seen[member])).content.body for _ in "ab"]
    assert bodies == [BODIES[1], BODIES[2]]  # its own, then the reply: nothing came twice
    for events in seen.values():  # no stale "No facilitator is connected" for anyone
        assert not [e for e in events if getattr(e, "action", None) == "paused"], events
    await fac.moderate("close")
    assert (await member.next_event(ev.CircleClosed)).reason == "facilitator"
    await balancer.stop()
    for client in (fac, member):
        await client.close()


async def test_redis_outage_is_reported_refused_survived_and_recovered(
    nodes: Callable[..., ServerProcess], redis_proc: RedisProcess
) -> None:
    a, b = nodes(), nodes()
    fac, invite = await open_circle(a.url, auto_admit=True)
    local = await join(a.url, fac, invite, HANDLES[1])
    remote = await join(b.url, fac, invite, HANDLES[2])
    await settle((fac, local, remote))
    assert health(a) == 200

    redis_proc.stop()
    await eventually(lambda: health(a) == 503 and health(b) == 503, "both nodes to say unhealthy")
    refused = CircleClient(a.url)
    await refused.connect()
    with pytest.raises(ConnectError, match="cannot open circles right now"):
        await refused.open_circle(handle=HANDLES[3], title="t", rules="r")
    await refused.close()
    # What does not need Redis keeps working: the owner's own members talk. The member on
    # the other node is told once that what it sends waits; nothing is refused.
    await local.post(BODIES[0])
    seen: dict[str, list[ev.Event]] = {"fac": [await message(fac, BODIES[0])]}
    await remote.post("written while the nodes were apart")
    await remote.post("and a second one")
    held: ev.ErrorReceived = await remote.next_event(ev.ErrorReceived)
    assert held.ref is None and "no need to send it again" in held.message
    frames_sent = remote.session._unconfirmed.copy()

    redis_proc.start()  # empty: persistence is off
    await eventually(lambda: health(a) == 200 and health(b) == 200, "both nodes to recover")
    # Cross-node traffic flows again. What the remote member wrote arrives, in the order it
    # was written; what node b missed from a comes with a resume; everyone sees the same
    # messages in the same order (the relay's), each once, with no gap reported.
    await fac.post(BODIES[1])
    wanted = {BODIES[0], BODIES[1], "written while the nodes were apart", "and a second one"}
    for name, client in (("fac", fac), ("local", local), ("remote", remote)):
        events = seen.setdefault(name, [])
        while not wanted <= {e.content.body for e in events if isinstance(e, ev.MessageReceived)}:
            events.append(await client.next_event(timeout=15))
        seen[name] = events
    orders = {}
    for name, events in seen.items():
        got = [e for e in events if isinstance(e, ev.MessageReceived) and e.content.body in wanted]
        assert not [e for e in events if isinstance(e, ev.Gap)], (name, events)
        assert len(got) == len({m.content.body for m in got}), (name, got)  # each once
        assert [m.rseq for m in got] == sorted(m.rseq for m in got), (name, got)
        orders[name] = [m.content.body for m in got]
    assert orders["fac"] == orders["local"] == orders["remote"], orders
    assert orders["fac"].index("written while the nodes were apart") < orders["fac"].index(
        "and a second one"
    )
    assert frames_sent and not remote.session._unconfirmed  # each came back, none re-sent
    await remote.post(BODIES[2])
    await message(fac, BODIES[2])
    again, _ = await open_circle(a.url)
    for client in (fac, local, remote, again):
        await client.close()


async def test_a_member_who_drops_during_a_redis_outage_resumes_once_it_is_back(
    nodes: Callable[..., ServerProcess], redis_proc: RedisProcess
) -> None:
    """Its node cannot reach the circle's owner: the resume is not refused with words the
    person would have to act on; the client is asked to come back and does, backing off,
    until Redis is back. What it wrote meanwhile arrives once."""
    a, b = nodes(), nodes()
    fac, invite = await open_circle(a.url, auto_admit=True)
    remote = await join(b.url, fac, invite, HANDLES[1])
    await settle((fac, remote))
    redis_proc.stop()
    await eventually(lambda: health(b) == 503, "node b to say unhealthy")
    await remote.drop_connection()
    seen: list[ev.Event] = []
    while len([e for e in seen if isinstance(e, ev.Reconnecting)]) < 3:
        seen.append(await remote.next_event(timeout=15))  # turned away, and trying again
    await remote.post("written while apart")
    assert not [e for e in seen if isinstance(e, ev.ErrorReceived | ev.Disconnected)], seen
    waits = [e.delay for e in seen if isinstance(e, ev.Reconnecting)]
    assert waits == sorted(waits) and waits[-1] > waits[0], waits  # it backs off
    redis_proc.start()
    while not isinstance(event := await remote.next_event(timeout=30), ev.Resumed):
        assert not isinstance(event, ev.Disconnected | ev.ErrorReceived), event
    assert not event.lost
    assert (await message(fac, "written while apart")).handle == HANDLES[1]
    await fac.post(BODIES[1])
    assert (await message(remote, BODIES[1])).handle == HANDLES[0]
    for client in (fac, remote):
        await client.close()


async def test_a_member_who_moves_to_another_node_gets_its_crisis_resources(
    nodes: Callable[..., ServerProcess],
) -> None:
    """After a hand-over the member's client says hello to another node: what that host
    shows in a crisis is what the member sees from then on."""
    a = nodes(env={"CIRCLE_CRISIS_RESOURCES": "Call the line of node a"})
    b = nodes(env={"CIRCLE_CRISIS_RESOURCES": "Call the line of node b"})
    balancer = Balancer([a.port, b.port])
    await balancer.start()
    fac, invite = await open_circle(b.url, auto_admit=True)
    member = await join(balancer.url, fac, invite, HANDLES[1])  # to a, forwarded to b
    await settle((fac, member))
    assert member.session.server is not None
    assert member.session.server.crisis == "Call the line of node a"
    assert a.stop(timeout=10) == 0
    told: list[str] = []
    while not isinstance(event := await member.next_event(timeout=15), ev.Resumed):
        if isinstance(event, ev.Connected):
            told.append(event.crisis)
    assert told == ["Call the line of node b"]  # the interface is told, not only the session
    await balancer.stop()
    for client in (fac, member):
        await client.close()


async def test_a_node_stopping_hands_its_circles_over(
    nodes: Callable[..., ServerProcess],
) -> None:
    a, b = nodes(), nodes()
    balancer = Balancer([a.port, b.port])
    await balancer.start()
    fac, invite = await open_circle(balancer.url, auto_admit=True)  # a owns it
    member = await join(b.url, fac, invite, HANDLES[1])
    await settle((fac, member))

    assert a.stop(timeout=10) == 0  # SIGTERM, as a rolling restart does
    assert any("handed" in line for line in a.output), a.output
    assert not (await member.next_event(ev.Resumed, timeout=15)).lost
    assert not (await fac.next_event(ev.Resumed, timeout=15)).lost  # via the balancer, on b
    await member.post(BODIES[0])
    assert (await message(fac, BODIES[0])).handle == HANDLES[1]
    await fac.post(BODIES[1])
    assert (await message(member, BODIES[1])).handle == HANDLES[0]
    await balancer.stop()
    for client in (fac, member):
        await client.close()


def test_a_node_without_redis_says_what_to_check() -> None:
    port = RedisProcess().port  # a free port with nothing listening
    done = subprocess.run(
        [sys.executable, "-m", "circle_server.cli", "--port", "0"],
        env={**os.environ, "CIRCLE_BROKER": f"redis://127.0.0.1:{port}/0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "cannot reach Redis" in done.stderr and "redis-server running" in done.stderr


async def test_rate_limits_hold_for_members_on_other_nodes(
    nodes: Callable[..., ServerProcess],
) -> None:
    a, b = nodes(), nodes()
    fac, invite = await open_circle(a.url, auto_admit=True)
    flooder = await join(b.url, fac, invite, HANDLES[1])
    calm = await join(b.url, fac, invite, HANDLES[2])
    await settle((fac, flooder, calm))
    for i in range(60):  # the owner's token bucket for this connection runs dry
        await flooder.post(f"flood {i}")
    assert await error(flooder) == ErrorCode.RATE_LIMITED
    gone = await flooder.next_event(ev.Disconnected)
    assert "too many messages" in gone.reason
    await fac.post(BODIES[0])  # everyone else carries on
    assert (await message(calm, BODIES[0])).handle == HANDLES[0]
    for client in (fac, calm):
        await client.close()


async def test_an_owner_that_stalls_lets_go_of_the_circle_another_node_took_over(
    nodes: Callable[..., ServerProcess], redis_client: Redis
) -> None:
    a, b = nodes(), nodes()
    fac, invite = await open_circle(a.url, auto_admit=True)
    member = await join(b.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    key = f"circle:c:{fac.session.circle.circle_id.hex()}"  # type: ignore[union-attr]
    first_owner = await redis_client.hget(key, "owner")
    await stored_up_to(redis_client, fac.session.circle.circle_id, member)  # type: ignore[union-attr]

    a.process.send_signal(signal.SIGSTOP)  # a stalls: its heartbeat lapses, b takes over
    try:
        assert not (await member.next_event(ev.Resumed, timeout=20)).lost
        assert await redis_client.hget(key, "owner") != first_owner
    finally:
        a.process.send_signal(signal.SIGCONT)
    # a wakes up, sees the circle is b's now, and sends its facilitator there to resume.
    assert not (await fac.next_event(ev.Resumed, timeout=20)).lost
    assert await redis_client.hget(key, "owner") != first_owner  # a did not write it back
    await member.post(BODIES[0])
    assert (await message(fac, BODIES[0])).handle == HANDLES[1]
    await fac.post(BODIES[1])
    assert (await message(member, BODIES[1])).handle == HANDLES[0]
    for client in (fac, member):
        await client.close()


async def test_refused_by_one_circle_a_connection_can_join_another_on_another_node(
    nodes: Callable[..., ServerProcess],
) -> None:
    a, b, c = nodes(), nodes(), nodes()
    full_fac, full_invite = await open_circle(a.url, capacity=2, auto_admit=True)
    await join(a.url, full_fac, full_invite, HANDLES[1])
    other_fac, other_invite = await open_circle(b.url, auto_admit=True)
    seeker = CircleClient(c.url)  # one connection, through a third node, for both tries
    await seeker.connect()
    with pytest.raises(ConnectError, match="full"):
        await seeker.join(full_invite)  # forwarded to a, refused there
    await seeker.join(other_invite)  # a hands it back; c sends it on to b
    await seeker.knock(HANDLES[2])
    await seeker.next_event(ev.Admitted)
    await seeker.post(BODIES[0])
    assert (await message(other_fac, BODIES[0])).handle == HANDLES[2]
    for client in (full_fac, other_fac, seeker):
        await client.close()


def test_a_single_node_does_not_load_redis() -> None:
    """The default host needs no Redis client at all: the command imports it only to scale out."""
    code = (
        "import sys; sys.modules['redis'] = None\n"  # any 'import redis' now fails
        "import circle_server.cli, circle_server.server\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
