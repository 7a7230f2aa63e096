"""Scale-out through Redis (F21, P6): several nodes, one owner node per circle.

Each circle is run by the registry of exactly one node, its *owner* (the node its facilitator
opened it on). Other nodes *forward* the frames of their connections to that circle's owner
over Redis pub/sub and carry out what the owner sends back, so every rule the registry
enforces holds across nodes unchanged, and timers fire once. The owner keeps a snapshot of
each circle and its resume buffer in Redis keys that expire with the circle, so when a node
dies another node takes its circles over and their members resume there. docs/scale-out.md
has the design, the keys and the failure cases; node_links.py the messages between nodes.

Only ciphertext, opaque ids, public keys and keyed hashes reach Redis; nothing is logged
that names a circle, a member or an address.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from circle_server.actions import CloseCode
from circle_server.broker import MemoryBroker
from circle_server.cluster import (
    ATTACH,
    BEAT_SECONDS,
    BUFFER_DELAY,
    CLOSE,
    LOBBY_KEY,
    MISSED_BEATS,
    NODE_TTL_MS,
    RECORD_MARGIN,
    RSEQ_MARGIN,
    SALT_KEY,
    TAKE_OVER,
    WRITE_STATE,
    BrokerUnavailable,
    alive_key,
    buffer_key,
    channel,
    circle_key,
)
from circle_server.held import Held
from circle_server.node_links import NodeLinks
from circle_server.snapshot import SnapshotError, dump_circle, load_circle
from protocol.errors import ErrorCode, RemoteProtocolError
from protocol.frames import (
    Frame,
    Join,
    Lobby,
    LobbyEntry,
    OpenCircle,
    Resume,
    decode_frame,
    encode_frame,
)

log = logging.getLogger("circle_server.redis")

__all__ = ["BrokerUnavailable", "RedisBroker"]


class RedisBroker(NodeLinks, MemoryBroker):
    """A node of a cluster sharing circles through one Redis."""

    name = "redis"

    def __init__(self, url: str, node: str | None = None) -> None:
        self.url = url
        self.node = node or os.urandom(8).hex()
        self.redis: Redis | None = None
        self._ok = False
        self._queue: list[tuple[Any, ...]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._appends: defaultdict[bytes, list[bytes]] = defaultdict(list)
        self._append_handle: asyncio.TimerHandle | None = None
        # As owner: registry connection id <-> (node, connection id there).
        self.owned: set[bytes] = set()
        self.remote_conns: dict[int, tuple[str, int]] = {}
        self.by_origin: dict[tuple[str, int], int] = {}
        self.dirty: set[bytes] = set()
        # As a forwarding node: local connection -> (owner node, circle).
        self.forwards: dict[int, tuple[str, bytes]] = {}
        self.closing: dict[bytes, float] = {}
        """Closed circles whose keys may still be in Redis (an outage ate the delete), until
        those keys would have expired anyway."""
        self.leaving = False
        self._taking: dict[bytes, asyncio.Event] = {}
        self.resuming: set[int] = set()
        self.held = Held()
        self.seq_out: defaultdict[str, int] = defaultdict(int)
        self.seq_in: dict[str, int] = {}
        self.missing: Counter[str] = Counter()
        self.lobby_cache: tuple[LobbyEntry, ...] = ()
        self.recovering_until = 0.0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.redis = Redis.from_url(
            self.url,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 1),
        )
        try:
            await self.redis.ping()
            await self.redis.set(SALT_KEY, os.urandom(32), nx=True)
            salt = await self.redis.get(SALT_KEY)
            await self.redis.set(alive_key(self.node), b"1", px=NODE_TTL_MS)
            # Its own client: a subscriber waits for messages without a read timeout.
            self._listener = Redis.from_url(self.url, socket_connect_timeout=2)
            self.pubsub = self._listener.pubsub()
            await self.pubsub.subscribe(channel(self.node))
        except (RedisError, OSError) as exc:
            await self.redis.aclose()
            raise BrokerUnavailable(
                f"cannot reach Redis ({type(exc).__name__}). Is redis-server running, and is "
                "the broker URL right?"
            ) from None
        registry = self.server.registry
        assert isinstance(salt, bytes)
        registry.share_salt(salt)
        registry.remote_lobby = lambda: self.lobby_cache
        self._ok = True
        self._tasks = [
            asyncio.create_task(self._write_forever()),
            asyncio.create_task(self._listen_forever()),
            asyncio.create_task(self._beat_forever()),
        ]
        log.info("node joined the cluster through Redis")

    async def stop(self) -> None:
        self._write_appends()
        self.flush()
        if self._ok and self.redis is not None:
            self._queue.append(("DEL", alive_key(self.node)))
            await self._write_batch()
        for task in self._tasks:
            task.cancel()
        if self.redis is not None:
            await self.redis.aclose()
            await self._listener.aclose()

    def healthy(self) -> bool:
        return self._ok

    async def hand_over(self) -> bool:
        """Write every circle's state one last time, ask members on other nodes to resume,
        and stop saying we are alive, so the first node a member resumes on takes over."""
        if not self._ok:
            return False
        self._write_appends()
        self.dirty |= self.owned
        self.flush()
        for node, there in self.remote_conns.values():
            self._send_to(node, CLOSE, there, CloseCode.RESUME, "reconnect and resume")
        self.owned.clear()  # from here on, nothing this node does may overwrite them
        self.leaving = True
        self._queue.append(("DEL", alive_key(self.node)))
        await self._write_batch()
        log.info("handed this node's circles over to the cluster")
        return True

    def _down(self, what: str) -> None:
        if self._ok:
            log.warning("Redis unreachable (%s): not opening circles until it is back", what)
        self._ok = False

    # ------------------------------------------------------------------ entry frames
    async def route(self, conn: int, frame: Frame, data: bytes) -> bool:
        registry = self.server.registry
        state = registry.conns.get(conn)
        if state is None or not state.hello or state.circle is not None:
            return False  # the registry says what is wrong
        if isinstance(frame, OpenCircle):
            return await self._open(conn, frame)
        if not isinstance(frame, Join | Resume) or frame.circle in registry.circles:
            return False
        if not state.bucket.take(registry.clock()):
            return False  # the registry refuses it as a flood
        if not self._ok:
            return self._refuse(conn, frame, "Circles on other nodes cannot be reached")
        try:
            owner = await self._owner_of(frame.circle)
        except (RedisError, OSError):
            self._down("looking up a circle")
            return self._refuse(conn, frame, "Circles on other nodes cannot be reached")
        if owner is None or owner == self.node or frame.circle in registry.circles:
            return False
        if conn not in registry.conns:
            return True  # the connection ended while we looked
        self.forwards[conn] = (owner, frame.circle)
        self._send_to(owner, ATTACH, conn, state.challenge, state.address, data)
        return True

    async def _owner_of(self, circle: bytes) -> str | None:
        """The live owner of a circle, taking it over when its owner died; None if the circle
        is unknown or now owned here. Just after Redis came back empty, owners are still
        writing their circles again: an unknown circle is looked up until they are done."""
        assert self.redis is not None
        for _ in range(3):
            raw = await self.redis.hget(circle_key(circle), "owner")
            while raw is None and time.time() < self.recovering_until:
                await asyncio.sleep(BEAT_SECONDS / 4)
                raw = await self.redis.hget(circle_key(circle), "owner")
            if raw is None:
                return None
            owner = raw.decode() if isinstance(raw, bytes) else str(raw)
            if owner == self.node:
                taking = self._taking.get(circle)
                if taking is not None:  # another member's resume is loading it right now
                    await taking.wait()
                return owner
            if await self.redis.exists(alive_key(owner)):
                return owner
            wait = self.recovering_until - time.time()
            if wait > 0:  # Redis just came back: live nodes are still saying so
                await asyncio.sleep(wait)
                if await self.redis.exists(alive_key(owner)):
                    return owner
            if await self._take_over(circle, owner):
                return None
        return None

    async def _open(self, conn: int, frame: OpenCircle) -> bool:
        registry = self.server.registry
        if not self._ok:
            return self._refuse(conn, frame, "This server cannot open circles right now")
        assert self.redis is not None
        key = circle_key(frame.circle)
        try:
            claimed = await self.redis.hsetnx(key, "owner", self.node)
            await self.redis.expireat(key, int(time.time()) + frame.minutes * 60 + RECORD_MARGIN)
        except (RedisError, OSError):
            self._down("opening a circle")
            return self._refuse(conn, frame, "This server cannot open circles right now")
        if not claimed:
            message = "A circle with this id exists; try again."
            self._error(conn, ErrorCode.CIRCLE_EXISTS, message, frame.TYPE)
            return True
        self.server.process(conn, lambda: registry.receive(conn, frame), frame.TYPE)
        if frame.circle in registry.circles:
            self.owned.add(frame.circle)
            self.touched(frame.circle)
        else:
            self._queue.append(("DEL", key))
            self._wake.set()
        return True

    def _refuse(self, conn: int, frame: Frame, what: str) -> bool:
        if isinstance(frame, Resume):
            # A member coming back cannot be asked to try again by hand: its client
            # reconnects and resumes by itself, backing off, and re-sends what it wrote.
            self.server.close(conn, CloseCode.RESUME, "reconnect and resume")
            return True
        message = f"{what}: the server is reconnecting to its peers. Try again in a moment."
        self._error(conn, ErrorCode.UNAVAILABLE, message, frame.TYPE)
        return True

    async def _take_over(self, circle: bytes, dead: str) -> bool:
        """Become the owner of a dead node's circle from its snapshot (docs/scale-out.md).
        Several members resuming here at once wait for the first one's take-over."""
        taking = self._taking.get(circle)
        if taking is not None:
            await taking.wait()
            return False  # look the owner up again: here now, or the node that won
        self._taking[circle] = done = asyncio.Event()
        try:
            return await self._load_from(circle, dead)
        finally:
            done.set()
            del self._taking[circle]

    async def _load_from(self, circle: bytes, dead: str) -> bool:
        assert self.redis is not None
        key = circle_key(circle)
        if not await self.redis.eval(TAKE_OVER, 1, key, dead, self.node):
            return False
        registry = self.server.registry
        state = await self.redis.hget(key, "state")
        stored = await self.redis.lrange(buffer_key(circle), 0, -1)
        if circle in registry.circles:
            return True
        try:
            if not isinstance(state, bytes):
                raise SnapshotError("the circle was never stored")
            frames = [decode_frame(data) for data in stored if isinstance(data, bytes)]
            buffer = [(int(getattr(f, "rseq", 0)), f) for f in frames]
            config = self.server.config
            taken = load_circle(
                state, buffer, config.resume_buffer, registry.clock(), config.resume_buffer_bytes
            )
            taken.rseq += RSEQ_MARGIN
        except (SnapshotError, RemoteProtocolError) as exc:
            log.warning("could not take over a circle: %s", exc)
            self._queue += [("DEL", key, buffer_key(circle)), ("ZREM", LOBBY_KEY, circle)]
            self._wake.set()
            return True
        self.owned.add(circle)
        self.server.apply(registry.adopt_circle(taken))
        self.touched(circle)
        log.info("took over a circle whose node stopped answering")
        return True

    # ------------------------------------------------------------------ storage
    def published(self, circle: bytes, rseq: int, data: bytes) -> None:
        """Keep the frame in the circle's buffer in Redis, in batches: one write per circle
        every BUFFER_DELAY seconds rather than a round trip per message."""
        if circle not in self.owned or not self._ok:
            return
        self._appends[circle].append(data)
        if self._append_handle is None:
            loop = asyncio.get_running_loop()
            self._append_handle = loop.call_later(BUFFER_DELAY, self._write_appends)

    def _write_appends(self) -> None:
        self._append_handle = None
        appends, self._appends = self._appends, defaultdict(list)
        if not self._ok:
            return
        keep = self.server.config.resume_buffer
        registry = self.server.registry
        for circle, frames in appends.items():
            live = registry.circles.get(circle)
            if circle in self.owned and live is not None:
                key = buffer_key(circle)
                ends = int(live.ends_at) + RECORD_MARGIN
                self._queue += [
                    ("RPUSH", key, *frames[-keep:]),
                    ("LTRIM", key, -keep, -1),
                    ("EXPIREAT", key, ends),
                ]
        self._wake.set()

    def touched(self, circle: bytes) -> None:
        if circle not in self.owned:
            return
        self.dirty.add(circle)
        if self._flush_handle is None:  # changes made in one turn of the loop are written once
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the snapshots of changed circles; drop every key of closed ones."""
        self._flush_handle = None
        dirty, self.dirty = self.dirty, set()
        registry = self.server.registry
        for cid in self.owned - set(registry.circles):
            dirty.add(cid)
        for cid in dirty:
            circle = registry.circles.get(cid)
            key, buf = circle_key(cid), buffer_key(cid)
            if circle is None:
                self.owned.discard(cid)
                self.closing[cid] = time.time() + 24 * 3600  # replayed by _resync
                self._queue += [("DEL", key, buf), ("ZREM", LOBBY_KEY, cid)]
                continue
            ends = int(circle.ends_at) + RECORD_MARGIN
            state = dump_circle(circle)
            self._queue.append(("EVAL", WRITE_STATE, 2, key, buf, self.node, state, ends))
            entry = registry.lobby_entry(circle) if self.server.config.lobby else None
            if entry is None:
                self._queue += [("HDEL", key, "lobby"), ("ZREM", LOBBY_KEY, cid)]
            else:
                lobby = encode_frame(Lobby(circles=(entry,)))
                self._queue += [
                    ("HSET", key, "lobby", lobby),
                    ("ZADD", LOBBY_KEY, circle.ends_at, cid),
                ]
        if self._ok:
            self._wake.set()
        else:
            self._queue.clear()

    def _resync(self) -> None:
        """Redis is back (perhaps empty, having restarted): write everything owned again."""
        registry = self.server.registry
        self._appends.clear()  # the whole buffer is written below
        self._queue.append(("SET", SALT_KEY, registry.address_salt, "NX"))
        for cid in self.closing:
            self._queue += [("DEL", circle_key(cid), buffer_key(cid)), ("ZREM", LOBBY_KEY, cid)]
        for cid in self.owned & set(registry.circles):
            circle = registry.circles[cid]
            buf = buffer_key(cid)
            self._queue.append(("DEL", buf))
            if circle.buffer:
                self._queue.append(("RPUSH", buf, *(encode_frame(f) for _, f in circle.buffer)))
        self.dirty |= self.owned
        self.flush()

    # ------------------------------------------------------------------ tasks
    async def _write_batch(self) -> None:
        batch, self._queue = self._queue, []
        if not batch or self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for command in batch:
                pipe.execute_command(*command)
            results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError):
            self._down("writing")
            return
        unheard: set[str] = set()
        for command, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.error("a Redis command failed: %s", type(result).__name__)
            elif command[0] == "PUBLISH" and result == 0:
                unheard.add(command[1])
        if unheard and time.time() < self.recovering_until:
            # Just after an outage, a node may not be listening again yet: what no one heard
            # is lost, so the members concerned resume rather than wait for it. (Otherwise a
            # node that does not listen has stopped, and is taken over in due course.)
            prefix = channel("")
            for name in unheard:
                self._deaf(name.removeprefix(prefix))

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._write_batch()

    async def _listen_forever(self) -> None:
        while True:
            try:
                async for message in self.pubsub.listen():
                    if message["type"] != "message":
                        continue
                    try:
                        self._on_message(message["data"])
                    except Exception as exc:  # a bug: say where, never what
                        log.error("handling a node message failed: %s", type(exc).__name__)
            except (RedisError, OSError):
                self._down("listening")
            await asyncio.sleep(BEAT_SECONDS / 2)
            await self._resubscribe()

    async def _resubscribe(self) -> None:
        try:
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
            self.pubsub = self._listener.pubsub()
            await self.pubsub.subscribe(channel(self.node))
        except (RedisError, OSError):
            pass

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            try:
                await self._beat()
            except (RedisError, OSError):
                self._down("heartbeat")

    async def _beat(self) -> None:
        """Say we are alive, notice dead peers, refresh the lobby; recover after an outage."""
        assert self.redis is not None
        now = time.time()
        peers = sorted(
            {owner for owner, _ in self.forwards.values()}
            | {node for node, _ in self.remote_conns.values()}
        )
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(alive_key(self.node), b"1", px=NODE_TTL_MS)
        for peer in peers:
            pipe.exists(alive_key(peer))
        pipe.zremrangebyscore(LOBBY_KEY, "-inf", now)
        pipe.zrange(LOBBY_KEY, 0, -1)
        _, *alive, _, listed = await pipe.execute()
        self.server.metrics.redis_round_trip.observe(max(0.0, time.time() - now))
        if not self._ok:
            log.warning("Redis is back: writing this node's circles again")
            self._ok = True
            self.recovering_until = now + 2 * NODE_TTL_MS / 1000
            self._resync()
            self._release_held()
            return
        for cid, until in list(self.closing.items()):
            if until < now:
                del self.closing[cid]
        for gone in set(self.missing) - set(peers):
            del self.missing[gone]
        if now >= self.recovering_until:
            for peer, present in zip(peers, alive, strict=True):
                self.missing[peer] = 0 if present else self.missing[peer] + 1
                if self.missing[peer] >= MISSED_BEATS:
                    del self.missing[peer]
                    self._node_died(peer)
        await self._check_ownership()
        await self._refresh_lobby([cid for cid in listed if cid not in self.owned])

    async def _check_ownership(self) -> None:
        """A node cut off from Redis for a while may find its circles taken over by another
        node meanwhile: it lets them go, and their members here resume on the new owner."""
        assert self.redis is not None
        owned = sorted(self.owned)
        if not owned:
            return
        pipe = self.redis.pipeline(transaction=False)
        for cid in owned:
            pipe.hget(circle_key(cid), "owner")
        for cid, owner in zip(owned, await pipe.execute(), strict=True):
            if isinstance(owner, bytes) and owner.decode() != self.node:
                log.warning("a circle was taken over by another node; its members move there")
                self.owned.discard(cid)
                self.dirty.discard(cid)
                self._appends.pop(cid, None)
                self.server.apply(self.server.registry.release(cid))

    async def _refresh_lobby(self, circles: list[bytes]) -> None:
        assert self.redis is not None
        if not self.server.config.lobby or not circles:
            self.lobby_cache = ()
            return
        pipe = self.redis.pipeline(transaction=False)
        for cid in circles:
            pipe.hget(circle_key(cid), "lobby")
        entries: list[LobbyEntry] = []
        for data in await pipe.execute():
            if data is None:
                continue
            try:
                lobby = decode_frame(data)
            except RemoteProtocolError:
                continue
            if isinstance(lobby, Lobby):
                entries += lobby.circles
        self.lobby_cache = tuple(entries)
