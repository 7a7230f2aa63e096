"""Attack edges on a real circle-server: pipelined garbage, a reader that stops reading,
connections parked in the handshake, and the file-descriptor limit (S9)."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from circle_client.client import CircleClient
from protocol.frames import Error, LobbyRequest, decode_frame, encode_frame
from tests.conftest import LISTENING, ROOT, ServerProcess, start_server
from tests.support.clients import circle_works, metric_reaches, raw, scrape

REFUSED = 'circle_refusals_total{{reason="{}"}}'


def masked(payload: bytes) -> bytes:
    """One binary websocket frame as a client must send it (masked)."""
    return Frame(Opcode.BINARY, payload).serialize(mask=True, extensions=[])


async def test_pipelined_garbage_gets_a_handful_of_errors_and_one_close(
    server: ServerProcess,
) -> None:
    ws = await raw(server.url)
    # 1,000 bad frames in one write, below the websocket layer: all arrive before any reply.
    ws.transport.write(masked(b"\xc1") * 1000)
    errors = 0
    with pytest.raises(ConnectionClosed) as info:
        while True:
            if isinstance(decode_frame(await ws.recv()), Error):
                errors += 1
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert 1 <= errors <= 5, errors  # the registry closes at the fifth bad frame
    await circle_works(server.url)


async def test_a_member_who_stops_reading_is_dropped_and_others_are_not() -> None:
    proc = start_server(
        env={
            "CIRCLE_SEND_BUFFER_BYTES": str(128 * 1024),
            "CIRCLE_RESUME_BUFFER_BYTES": str(64 * 1024),
            "CIRCLE_RATE_PER_SECOND": "1000000",
            "CIRCLE_RATE_BURST": "1000000",
        }
    )
    try:
        hosts = []
        for n in range(8):  # listed circles make every lobby reply a few KiB
            host = CircleClient(proc.url)
            await host.connect()
            await host.open_circle(handle="calm-heron", title=f"{n} " + "t" * 100, rules="r",
                                   listed=True)  # fmt: skip
            hosts.append(host)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that is slow
        sock.connect(("127.0.0.1", proc.port))
        ws = await raw(proc.url, sock=sock)
        ws.transport.pause_reading()  # ... and then stops reading altogether
        request = masked(encode_frame(LobbyRequest()))
        slow = REFUSED.format("slow_reader")
        async with asyncio.timeout(60):
            while (await scrape(proc.url)).get(slow, 0) < 1:
                ws.transport.write(request * 200)  # each asks for a reply it never reads
        after = await scrape(proc.url)
        assert after[slow] == 1 and after["circle_connections"] == 8  # only the reader went
        await circle_works(proc.url)
        ws.transport.abort()
        for host in hosts:
            await host.close()
    finally:
        proc.stop()


async def test_connections_in_the_handshake_are_capped_in_total_and_per_address() -> None:
    proc = start_server(env={"CIRCLE_MAX_HANDSHAKES": "3", "CIRCLE_MAX_HANDSHAKES_PER_IP": "2"})
    try:

        async def parked(source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            """A connection that never sends its request."""
            return await asyncio.open_connection("127.0.0.1", proc.port, local_addr=(source, 0))

        async def refused(source: str) -> bool:
            reader, writer = await parked(source)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return data.startswith(b"HTTP/1.1 503 ")

        held = [await parked("127.0.0.2"), await parked("127.0.0.2")]
        assert await refused("127.0.0.2")  # a third from one address
        held.append(await parked("127.0.0.3"))
        assert await refused("127.0.0.4")  # a fourth in all
        for _, writer in held:
            writer.close()
        # >= 2: a scrape that comes before the server saw the closes is itself refused
        await metric_reaches(proc.url, REFUSED.format("handshakes"), lambda v: v >= 2)
        await circle_works(proc.url)
    finally:
        proc.stop()


def start_limited(nofile: int, env: dict[str, str], soft: int | None = None) -> ServerProcess:
    """``circle-server --port 0`` with RLIMIT_NOFILE's hard limit ``nofile`` and its soft
    limit ``soft`` (the same when not given)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft or nofile, nofile))

    process = subprocess.Popen(
        [sys.executable, "-m", "circle_server.cli", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        cwd=ROOT,
        preexec_fn=limit,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line.rstrip("\n"))
        match = LISTENING.search(line.strip())
        if match:
            return ServerProcess(process, match.group(1), output)
    raise AssertionError("circle-server did not start:\n" + "\n".join(output))


async def test_the_soft_fd_limit_is_raised_to_the_hard_one_and_logged() -> None:
    proc = start_limited(1024, {}, soft=256)
    try:
        assert any("file descriptors: limit 1024 (raised from 256)" in line for line in proc.output)
        assert (await scrape(proc.url))["process_max_fds"] == 1024
        await circle_works(proc.url)
    finally:
        proc.stop()


async def test_near_the_fd_limit_new_connections_get_a_clean_refusal() -> None:
    proc = start_limited(
        220, {"CIRCLE_MAX_HANDSHAKES_PER_IP": "1000", "CIRCLE_MAX_CONNECTIONS_PER_IP": "1000"}
    )
    held = []
    try:
        assert any("file descriptors: limit 220" in line for line in proc.output), proc.output
        refusals = 0
        for _ in range(150):  # more than the 220 - 140 (reserved) the server will hold
            try:
                held.append(await raw(proc.url))
            except InvalidStatus as exc:
                assert exc.response.status_code == 503
                refusals += 1
        assert (len(held), refusals) == (80, 70)
        for ws in held:
            await ws.close()
        await metric_reaches(proc.url, REFUSED.format("fd_limit"), lambda v: v == refusals)
        await circle_works(proc.url)
    finally:
        for ws in held:
            await ws.close()
        proc.stop()
    complaints = [line for line in proc.output if "refusing new connections" in line]
    assert len(complaints) == 1, complaints  # one line, not one per refusal
    assert "Traceback" not in "\n".join(proc.output)
