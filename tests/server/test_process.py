"""A real circle-server process, real websocket clients: sessions, bad input, operations."""

from __future__ import annotations

import asyncio
import dataclasses

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from circle_client import events as ev
from circle_client.client import CircleClient
from protocol.errors import ErrorCode
from protocol.frames import Envelope, Error, LobbyRequest, Post, decode_frame, encode_frame
from tests.conftest import ServerProcess, start_server
from tests.support.clients import (
    BODIES,
    HANDLES,
    circle_works,
    get,
    join,
    metric_reaches,
    next_message,
    open_circle,
    raw,
    scrape,
    settle,
)


async def test_full_session(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url)
    a = await join(server.url, fac, invite, HANDLES[1])
    b = await join(server.url, fac, invite, HANDLES[2])
    c = await join(server.url, fac, invite, HANDLES[3])
    await settle((fac, a, b, c))
    await a.post(BODIES[0])
    for reader in (fac, b, c):
        msg = await reader.next_event(ev.MessageReceived)
        assert (msg.content.body, msg.handle) == (BODIES[0], HANDLES[1])
    assert len({m.session.fingerprint() for m in (fac, a, b, c)}) == 1

    await fac.moderate("mute", target=b.session.member, minutes=5)
    notice = await c.next_event(ev.NoticeReceived)
    assert notice.text == f"{HANDLES[2]} was muted for 5 min"
    await b.post("am I muted")
    err = await b.next_event(ev.ErrorReceived)
    assert err.code == ErrorCode.MUTED

    old_epoch = c.session.circle.epoch  # type: ignore[union-attr]
    await fac.moderate("remove", target=c.session.member)
    gone = await c.next_event(ev.Disconnected)
    assert "removed" in gone.reason
    await a.post(BODIES[1])
    msg = await fac.next_event(ev.MessageReceived)
    while msg.content.body != BODIES[1]:
        msg = await fac.next_event(ev.MessageReceived)
    assert a.session.circle.epoch > old_epoch  # type: ignore[union-attr]

    await fac.moderate("extend", minutes=10)
    timer = await a.next_event(ev.TimerChanged)
    assert timer.ends_at > 0
    await fac.moderate("close")
    closed = await a.next_event(ev.CircleClosed)
    assert closed.reason == "facilitator"
    for client in (fac, a, b, c):
        await client.close()
    server.stop()
    assert not [line for line in server.output if "DISK-WRITE" in line], server.output


async def test_resume_after_network_drop(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    a = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, a))  # both hold the new epoch before anyone posts in it
    await a.drop_connection()
    await a.next_event(ev.Reconnecting)
    await fac.post("while you were away")
    resumed = await a.next_event(ev.Resumed)
    assert not resumed.lost
    msg = await a.next_event(ev.MessageReceived)
    assert msg.content.body == "while you were away"
    await fac.post("and after")
    msg = await a.next_event(ev.MessageReceived)
    assert msg.content.body == "and after"
    await a.close()
    await fac.close()


async def test_malformed_frames_get_errors_and_others_are_unaffected(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    member = await join(server.url, fac, invite, HANDLES[1])
    ws = await raw(server.url)
    cases = [
        (b"\xc1", ErrorCode.MALFORMED),
        (msgpack.packb({"t": "launch_missiles"}), ErrorCode.UNKNOWN_FRAME),
        (msgpack.packb({"t": "join", "circle": "not bytes"}), ErrorCode.BAD_FIELD),
        (
            msgpack.packb(
                {"t": "knock", "sealed": b"x" * 40, "key": 0, "x25519": b"x" * 32, "mlkem": b""}
            ),
            ErrorCode.OUT_OF_ORDER,
        ),
    ]
    for data, code in cases:
        await ws.send(data)
        reply = decode_frame(await ws.recv())
        assert isinstance(reply, Error) and reply.code == code
    await ws.send("text is not a frame")
    reply = decode_frame(await ws.recv())
    assert isinstance(reply, Error) and reply.code == ErrorCode.MALFORMED
    # The fifth bad frame closes the connection with a policy-violation code.
    with pytest.raises(ConnectionClosed) as info:
        await ws.send(b"\xc1")
        while True:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    await member.post("still talking")
    assert (await fac.next_event(ev.MessageReceived)).content.body == "still talking"
    await member.close()
    await fac.close()


async def test_post_before_admission_is_out_of_order(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    ws = await raw(server.url)
    await ws.send(encode_frame(Post(env=Envelope(0, 1, b"n" * 24, b"c" * 32, b"s" * 64))))
    reply = decode_frame(await ws.recv())
    assert isinstance(reply, Error) and reply.code == ErrorCode.OUT_OF_ORDER
    assert reply.ref == "post"
    await ws.send(encode_frame(LobbyRequest()))  # one mistake does not end the connection
    assert decode_frame(await ws.recv()).TYPE == "lobby"
    await ws.close()
    member = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    await member.post(BODIES[0])
    assert (await next_message(fac, BODIES[0])).handle == HANDLES[1]
    await member.close()
    await fac.close()


async def test_moderation_with_a_bad_signature_is_refused(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    member = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    tampered = dataclasses.replace(fac.session.sign_moderation("lock"), action="close")
    fac.session._send(tampered)  # signed for "lock", claims "close"
    await fac._flush()
    error = await fac.next_event(ev.ErrorReceived)
    assert error.code == ErrorCode.BAD_SIGNATURE and error.ref == "moderate"
    await member.post("the circle is still open")
    await next_message(fac, "the circle is still open")
    await member.close()
    await fac.close()


async def test_oversized_frame_closes_with_1009(server: ServerProcess) -> None:
    ws = await raw(server.url)
    with pytest.raises(ConnectionClosed) as info:
        await ws.send(b"\x00" * (64 * 1024 + 1))
        await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    await metric_reaches(server.url, 'circle_refusals_total{reason="frame_too_big"}', _is(1))
    await circle_works(server.url)


async def test_flood_is_rate_limited_then_closed() -> None:
    proc = start_server(
        env={"CIRCLE_RATE_PER_SECOND": "1", "CIRCLE_RATE_BURST": "5", "CIRCLE_RATE_STRIKES": "3"}
    )
    try:
        ws = await raw(proc.url)
        codes = []
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(20):
                await ws.send(msgpack.packb({"t": "lobby_request"}))
            while True:
                frame = decode_frame(await ws.recv())
                if isinstance(frame, Error):
                    codes.append(frame.code)
        assert len(codes) >= 3 and set(codes) == {ErrorCode.RATE_LIMITED}
        assert info.value.rcvd is not None and info.value.rcvd.code == 4008
        await circle_works(proc.url)  # the flooder's buckets are its own
    finally:
        proc.stop()


async def test_connection_cap_per_address_is_counted_and_spares_other_addresses() -> None:
    proc = start_server(env={"CIRCLE_MAX_CONNECTIONS_PER_IP": "2"})
    try:
        before = await scrape(proc.url)
        refused = 'circle_refusals_total{reason="too_many_connections"}'
        malformed = f'circle_rejects_total{{code="{int(ErrorCode.MALFORMED)}",name="MALFORMED"}}'
        assert before[refused] == 0
        elsewhere = {"local_addr": ("127.0.0.2", 0)}  # another address on the loopback
        first, second = await raw(proc.url, **elsewhere), await raw(proc.url, **elsewhere)
        await first.send(b"\xc1")
        reply = decode_frame(await first.recv())
        assert isinstance(reply, Error) and reply.code == ErrorCode.MALFORMED
        third = await connect(proc.url, compression=None, proxy=None, **elsewhere)
        with pytest.raises(ConnectionClosed) as info:
            await third.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4009
        after = await scrape(proc.url)
        assert after[refused] == 1
        assert after[malformed] == before.get(malformed, 0) + 1
        await circle_works(proc.url)  # 127.0.0.1 has its own two connections
        await first.close()
        await second.close()
    finally:
        proc.stop()


async def test_silent_and_slowloris_connections_are_dropped() -> None:
    proc = start_server(env={"CIRCLE_HANDSHAKE_TIMEOUT": "1"})
    try:
        loop = asyncio.get_running_loop()
        silent = await connect(proc.url, compression=None, proxy=None)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(silent.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4010
        await metric_reaches(proc.url, 'circle_refusals_total{reason="hello_timeout"}', _is(1))
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
        await writer.drain()
        started = loop.time()
        data = await asyncio.wait_for(reader.read(), 5)
        waited = loop.time() - started
        assert data == b""  # dropped without a response: an unfinished handshake gets no 4010
        assert 0.5 <= waited < 4, waited  # by the server's 1 s handshake timeout, not ours
        writer.close()
        await circle_works(proc.url)
    finally:
        proc.stop()


def _is(expected: float):  # type: ignore[no-untyped-def]
    return lambda value: value == expected


async def test_browser_origins_are_refused(server: ServerProcess) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        await connect(server.url, origin="https://evil.example", proxy=None)  # type: ignore[arg-type]
    assert info.value.response.status_code == 403


async def test_health_and_metrics(server: ServerProcess) -> None:
    http = server.url.replace("ws://", "http://")
    fac, invite = await open_circle(server.url, auto_admit=True)
    status, body, headers = await asyncio.to_thread(get, http + "/healthz")
    assert (status, body) == (200, "ok\n")
    assert "Server" not in headers and "server" not in headers
    status, body, _ = await asyncio.to_thread(get, http + "/metrics")
    assert status == 200
    assert "circle_circles_open 1.0" in body
    member = await join(server.url, fac, invite, HANDLES[1])
    await member.post(BODIES[0])
    await fac.next_event(ev.MessageReceived)
    _, body, _ = await asyncio.to_thread(get, http + "/metrics")
    values = dict(line.rsplit(" ", 1) for line in body.splitlines() if line.startswith("circle_"))
    assert float(values["circle_members"]) == 2.0
    assert float(values["circle_frames_in_total"]) >= 4
    assert float(values["circle_frames_out_total"]) >= 2
    assert BODIES[0] not in body and HANDLES[1] not in body
    await member.close()
    await fac.close()


async def test_sigterm_tells_everyone_and_exits() -> None:
    proc = start_server()
    fac, invite = await open_circle(proc.url, auto_admit=True)
    member = await join(proc.url, fac, invite, HANDLES[1])
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await asyncio.to_thread(proc.stop, 8.0)
    assert code == 0
    assert loop.time() - started < 5
    closed = await member.next_event(ev.CircleClosed)
    assert closed.reason == "shutdown"
    await member.close()
    await fac.close()


async def test_debug_logs_hold_no_addresses_handles_or_content() -> None:
    proc = start_server("--log-level", "DEBUG")
    fac, invite = await open_circle(proc.url)
    member = await join(proc.url, fac, invite, HANDLES[1])
    await member.post(BODIES[0])
    await fac.next_event(ev.MessageReceived)
    ws = await raw(proc.url)
    await ws.send(b"\xc1")  # a rejection gets logged at DEBUG
    await ws.recv()
    await member.close()
    await fac.close()
    proc.stop()
    logs = [line for line in proc.output if "listening on" not in line]
    assert any("DEBUG" in line for line in logs), "no DEBUG lines: the test would prove nothing"
    text = "\n".join(logs)
    for secret in (*HANDLES, *BODIES, "127.0.0.1", "Night owls", "Be gentle"):
        assert secret not in text
    assert "DISK-WRITE" not in text


async def test_invalid_config_names_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "circle-server.toml"
    bad.write_text('[server]\nmax_members = "many"\n')
    import subprocess
    import sys

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "circle_server.cli", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "'max_members'" in result.stderr and "whole number" in result.stderr


async def test_approved_facilitators_only() -> None:
    from protocol.crypto import SigningKeys

    approved = SigningKeys.generate()
    proc = start_server(
        env={"CIRCLE_OPEN_POLICY": "approved", "CIRCLE_APPROVED_KEYS": approved.public.hex()}
    )
    try:
        stranger = CircleClient(proc.url)
        await stranger.connect()
        with pytest.raises(Exception, match="only approved facilitators"):
            await stranger.open_circle(handle="calm-heron", title="t", rules="r")
        await stranger.close()
        host = CircleClient(proc.url)
        await host.connect()
        invite = await host.open_circle(
            handle="calm-heron", title="t", rules="r", approval_key=approved
        )
        assert invite.circle_id
        await host.close()
    finally:
        proc.stop()


async def test_timed_session_warns_and_expires(server: ServerProcess) -> None:
    """A one-minute circle on the real server: the 1-minute warning, then it vanishes."""
    fac, invite = await open_circle(server.url, auto_admit=True, minutes=1)
    member = await join(server.url, fac, invite, HANDLES[1])
    warning = await member.next_event(ev.TimerChanged, timeout=10)
    assert warning.warning == 1
    closed = await member.next_event(ev.CircleClosed, timeout=75)
    assert closed.reason == "time_up"
    gone = await fac.next_event(ev.CircleClosed, timeout=5)
    assert gone.reason == "time_up"
    assert member.session.circle is None and member.session.keys is None
    await member.close()
    await fac.close()


async def restart_notice(client: CircleClient) -> ev.NoticeReceived:
    while True:
        notice: ev.NoticeReceived = await client.next_event(ev.NoticeReceived)
        if notice.action == "restart":
            return notice


@pytest.mark.parametrize(
    ("first", "second_signal"), [("SIGTERM", False), ("SIGTERM", True), ("SIGUSR1", False)]
)
async def test_sigterm_with_drain_fails_health_and_warns_members_first(
    first: str, second_signal: bool
) -> None:
    """drain_seconds: /healthz fails and members are told before the server stops (SIGTERM,
    or SIGUSR1 from a deploy script); a second SIGTERM while draining stops it at once."""
    import signal

    proc = start_server(env={"CIRCLE_DRAIN_SECONDS": "600" if second_signal else "1"})
    http = proc.url.replace("ws://", "http://")
    fac, invite = await open_circle(proc.url, auto_admit=True)
    member = await join(proc.url, fac, invite, HANDLES[1])
    assert (await asyncio.to_thread(get, http + "/healthz"))[0] == 200
    proc.process.send_signal(getattr(signal, first))
    notice = await restart_notice(member)
    assert notice.text == ("This server restarts in 600 s" if second_signal else
                           "This server restarts in 1 s")  # fmt: skip
    assert (await restart_notice(fac)).action == "restart"
    if second_signal:  # (with a 1 s drain the server may be gone by now)
        assert (await asyncio.to_thread(get, http + "/healthz"))[:2] == (503, "unhealthy\n")
        proc.process.send_signal(signal.SIGTERM)
    closed = await member.next_event(ev.CircleClosed)
    assert closed.reason == "shutdown"
    assert await asyncio.to_thread(proc.process.wait, 15) == 0  # it stops by itself
    await member.close()
    await fac.close()
