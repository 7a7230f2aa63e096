"""Plain HTTP on a real circle-server: only the websocket path upgrades, every other request
gets a complete, correct answer (F20)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerProcess, start_server
from tests.support.clients import circle_works


async def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request; the status, headers and every byte after them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # the server closes after answering
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


async def test_healthz_and_metrics_have_content_length_and_head_has_no_body(
    server: ServerProcess,
) -> None:
    for path in ("/healthz", "/metrics"):
        status, headers, body = await request(server.port, "GET", path)
        assert status == 200 and int(headers["Content-Length"]) == len(body) > 0
        status, head_headers, head_body = await request(server.port, "HEAD", path)
        assert status == 200 and head_body == b""
        assert int(head_headers["Content-Length"]) > 0
    assert b"circle_circles_open" in (await request(server.port, "GET", "/metrics"))[2]


async def test_unknown_paths_are_404_and_never_upgrade(server: ServerProcess) -> None:
    status, headers, body = await request(server.port, "GET", "/wp-login.php")
    assert status == 404 and int(headers["Content-Length"]) == len(body)
    with pytest.raises(InvalidStatus) as info:
        await connect(server.url + "/elsewhere", proxy=None)
    assert info.value.response.status_code == 404
    await circle_works(server.url)  # "/" still upgrades


async def test_other_methods_are_405(server: ServerProcess) -> None:
    for path, allow in (("/healthz", "GET, HEAD"), ("/metrics", "GET, HEAD"), ("/", "GET")):
        status, headers, _ = await request(server.port, "POST", path)
        assert (status, headers["Allow"]) == (405, allow)
    status, _, _ = await request(server.port, "DELETE", "/nowhere")
    assert status == 404


async def test_websocket_path_setting() -> None:
    proc = start_server(env={"CIRCLE_WEBSOCKET_PATH": "/circle"})
    try:
        with pytest.raises(InvalidStatus) as info:
            await connect(proc.url + "/", proxy=None)
        assert info.value.response.status_code == 404
        await circle_works(proc.url + "/circle")
    finally:
        proc.stop()


async def test_metrics_listen_keeps_metrics_off_the_public_port() -> None:
    proc = start_server(env={"CIRCLE_METRICS_LISTEN": "127.0.0.1:0"})
    try:
        line = next(line for line in proc.output if "metrics on" in line)
        private = int(line.rsplit(":", 1)[1].split("/", 1)[0])
        assert (await request(proc.port, "GET", "/metrics"))[0] == 404
        status, _, body = await request(private, "GET", "/metrics")
        assert status == 200 and b"circle_connections" in body
        assert (await request(private, "HEAD", "/healthz"))[:3:2] == (200, b"")
        assert (await request(private, "GET", "/"))[0] == 404  # no websockets there
    finally:
        proc.stop()
