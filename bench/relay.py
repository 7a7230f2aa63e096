"""The baseline: a bare websockets relay on the same stack (asyncio, websockets, no compression).

A client connects to ``/ROOM`` and every binary message it sends is broadcast to everyone in
that room, sender included: the least a relay can do per message. Run as a process::

    python -m bench.relay --port 0     # prints "relay listening on ws://127.0.0.1:PORT/"
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOMS: defaultdict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    room = ROOMS[ws.request.path if ws.request else "/"]
    room.add(ws)
    try:
        async for message in ws:
            broadcast(room, message)
    finally:
        room.discard(ws)


async def main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**16) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"relay listening on ws://127.0.0.1:{bound}/", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))
