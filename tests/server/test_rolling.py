"""A rolling restart behind docs/scale-out.md's HAProxy: the node running a circle is stopped,
HAProxy's retries and redispatch send the reconnecting members to the other node, they resume
there, and the circle goes on (F21). With ``drain_seconds``, the node first fails /healthz, so
HAProxy takes it out while it still serves, and tells its members. The time it takes is
printed (run with ``-s``), not asserted: docs/scale-out.md gives the measured figure."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from circle_client import events as ev
from tests.conftest import start_server
from tests.server.test_config import make_certificate
from tests.server.test_process import restart_notice
from tests.server.test_proxies import PEOPLE, seat
from tests.support.clients import BODIES, HANDLES, next_message, scrape, settle
from tests.support.cluster import RedisProcess, free_port
from tests.support.proxies import AddressedClient, HAProxy, trust, wait_for


async def resumed(client: AddressedClient) -> None:
    while True:
        event = await client.next_event(ev.Event, timeout=30)
        if isinstance(event, ev.Resumed):
            assert not event.lost
            return


@pytest.mark.parametrize("drain", [0, 3])
async def test_stopping_the_owner_node_moves_its_members_to_the_other(
    tmp_path: Path, drain: int
) -> None:
    cert, key = make_certificate(tmp_path)
    pem = tmp_path / "circle.pem"
    pem.write_text(cert.read_text() + key.read_text())
    redis = RedisProcess()
    redis.start()
    env = {"CIRCLE_TRUSTED_PROXIES": "127.0.0.1", "CIRCLE_BROKER": redis.url}
    env["CIRCLE_DRAIN_SECONDS"] = str(drain)
    nodes = [start_server(env=env), start_server(env=env)]
    proxy = HAProxy(tmp_path / "haproxy")
    proxy.start({8801: nodes[0].port, 8802: nodes[1].port}, pem, free_port(), "haproxy-nodes")
    tls = trust(cert)
    clients: list[AddressedClient] = []
    try:
        fac = AddressedClient(proxy.url(), PEOPLE + "10", tls)
        await fac.connect()
        invite = str(await fac.open_circle(handle=HANDLES[0], title="t", rules="r",
                                           auto_admit=True))  # fmt: skip
        clients = [fac]
        for n in (1, 2):
            clients.append(await seat(proxy.url(), tls, PEOPLE + f"1{n}", fac, invite, HANDLES[n]))
        await settle(tuple(clients))
        open_on = [(await scrape(node.url))["circle_circles_open"] for node in nodes]
        owner = nodes[open_on.index(1.0)]
        other = nodes[1 - nodes.index(owner)]
        loop = asyncio.get_running_loop()
        if drain:
            owner.process.send_signal(signal.SIGTERM)
            notice = await restart_notice(fac)  # the facilitator's node is the owner
            assert notice.text == f"This server restarts in {drain} s"
            # /healthz fails at once, so HAProxy takes the node out while it still serves ...
            await asyncio.to_thread(wait_for, lambda: " is DOWN" in proxy.logs(), "node down")
            assert owner.process.poll() is None
            # ... and a newcomer in the meantime opens its circle on the other node.
            newcomer = AddressedClient(proxy.url(), PEOPLE + "20", tls)
            clients.append(newcomer)
            await newcomer.connect()
            await newcomer.open_circle(handle=HANDLES[3], title="t", rules="r")
            assert (await scrape(other.url))["circle_circles_open"] == 1
            await asyncio.to_thread(owner.process.wait, drain + 15)  # it stops by itself
        started = loop.time()
        await asyncio.to_thread(owner.stop)  # SIGTERM: hands its circles over, asks to resume
        await asyncio.gather(*(resumed(c) for c in clients[:3]))
        print(f"\nall 3 members resumed {loop.time() - started:.2f} s after the node stopped")
        await clients[2].post(BODIES[1])
        assert (await next_message(fac, BODIES[1])).handle == HANDLES[2]
        assert (await scrape(other.url))["circle_circles_open"] == 1 + (drain > 0)
    finally:
        for client in clients:
            await client.close()
        proxy.stop()
        for node in nodes:
            node.stop()
        redis.stop()
