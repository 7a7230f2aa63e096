"""What /metrics tells a host (F20), from a real server after real sessions."""

from __future__ import annotations

import asyncio

from circle_client import events as ev
from circle_client.client import CircleClient
from tests.conftest import ServerProcess, start_server
from tests.support.clients import (
    BODIES,
    HANDLES,
    get,
    join,
    metric_reaches,
    open_circle,
    raw,
    scrape,
    settle,
)
from tests.support.cluster import RedisProcess


async def text(url: str) -> str:
    return (await asyncio.to_thread(get, url.replace("ws", "http", 1) + "/metrics"))[1]


async def test_a_session_shows_in_the_metrics_by_name(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url)
    member = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    delivered = (await scrape(server.url))["circle_delivery_seconds_count"]
    await member.post(BODIES[0])
    await fac.next_event(ev.MessageReceived)
    ws = await raw(server.url)
    await ws.send(b"\xc1")
    await ws.recv()
    await ws.close()
    values = await scrape(server.url)
    assert values['circle_frames_handled_total{type="knock"}'] == 1
    assert values['circle_frames_handled_total{type="admit"}'] == 1
    assert values['circle_frames_handled_total{type="post"}'] == 1
    assert values['circle_rejects_total{code="1000",name="MALFORMED"}'] == 1
    assert values["circle_connections"] == 2
    await metric_reaches(server.url, 'circle_closes_total{reason="client"}', lambda v: v == 1)
    body = await text(server.url)
    assert "_created" not in body
    expected = (
        *("process_resident_memory_bytes", "process_open_fds", "process_max_fds"),
        *("process_cpu_seconds_total", "circle_build_info{", "circle_broker_up 1.0"),
        *("circle_frame_seconds_bucket", "circle_event_loop_lag_seconds_count"),
    )
    for series in expected:
        assert series in body, series
    assert values["circle_frame_seconds_count"] >= 4
    # The post, fanned out once, is timed once, and took less than the top bucket.
    assert values["circle_delivery_seconds_count"] == delivered + 1
    assert values['circle_delivery_seconds_bucket{le="10.0"}'] == delivered + 1
    assert values["circle_redis_round_trip_seconds_count"] == 0  # no Redis here
    assert HANDLES[1] not in body and BODIES[0] not in body
    await member.close()
    await fac.close()


async def test_server_closes_are_counted_by_reason(server: ServerProcess) -> None:
    ws = await raw(server.url)
    for _ in range(5):
        await ws.send(b"\xc1")
    await ws.wait_closed()
    await metric_reaches(server.url, 'circle_closes_total{reason="policy"}', lambda v: v == 1)


async def test_connections_summed_over_nodes_count_each_member_once() -> None:
    redis = RedisProcess()
    redis.start()
    env = {"CIRCLE_BROKER": redis.url}
    nodes = [start_server(env=env), start_server(env=env)]
    clients: list[CircleClient] = []
    try:
        fac, invite = await open_circle(nodes[0].url, auto_admit=True)  # owner: node 0
        clients.append(fac)
        for handle in HANDLES[1:3]:  # both join through node 1, which forwards to node 0
            clients.append(await join(nodes[1].url, fac, invite, handle))
        await settle(tuple(clients))
        per_node = [(await scrape(node.url))["circle_connections"] for node in nodes]
        assert per_node == [1, 2]
        assert (await scrape(nodes[0].url))["circle_members"] == 3  # on the owner only
        assert (await scrape(nodes[1].url))["circle_members"] == 0
        owner = await scrape(nodes[0].url)  # every frame it handled, counted by its type
        assert owner['circle_frames_handled_total{type="open"}'] == 1
        assert owner['circle_frames_handled_total{type="knock"}'] == 2
        # A post from node 1 crosses to the owner and back: both nodes deliver it (the
        # owner to the facilitator, node 1 to the other member) and time the whole way.
        before = [(await scrape(node.url))["circle_delivery_seconds_count"] for node in nodes]
        await clients[1].post(BODIES[0])
        for client in (fac, clients[2]):
            assert (await client.next_event(ev.MessageReceived)).content.body == BODIES[0]
        for node, was in zip(nodes, before, strict=True):
            await metric_reaches(node.url, "circle_delivery_seconds_count", lambda v, w=was: v > w)
            await metric_reaches(node.url, "circle_node_link_seconds_count", lambda v: v > 0)
            await metric_reaches(node.url, "circle_redis_round_trip_seconds_count", bool)
    finally:
        for client in clients:
            await client.close()
        for node in nodes:
            node.stop()
        redis.stop()
