"""Sessions and a registry wired directly, no sockets (like h11's ConnectionPair).

Every frame still goes through encode_frame/decode_frame, so what the registry and the
sessions see is exactly what would cross the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from circle_client import events as ev
from circle_client.client import FINAL_CLOSE
from circle_client.session import Session
from circle_server.actions import Close, Publish, Send
from circle_server.config import ServerConfig
from circle_server.registry import Registry
from protocol.frames import Frame, decode_frame, encode_frame


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Peer:
    session: Session
    conn: int
    address: str
    events: list[ev.Event] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def last(self, kind: type[Any]) -> Any:
        found = self.of(kind)
        assert found, f"no {kind.__name__} event; got {[type(e).__name__ for e in self.events]}"
        return found[-1]


class Net:
    SERVER_URL = "ws://127.0.0.1:8765"

    def __init__(self, config: ServerConfig | None = None, **overrides: Any) -> None:
        self.clock = FakeClock()
        self.config = config or ServerConfig(**overrides)
        self.registry = Registry(self.config, self.clock)
        self.peers: dict[int, Peer] = {}
        self.wire: list[bytes] = []

    def connect(
        self,
        session: Session | None = None,
        address: str = "10.0.0.1",
        events: list[ev.Event] | None = None,
    ) -> Peer:
        session = session or Session(clock=self.clock)
        session.server_url = self.SERVER_URL
        conn, actions = self.registry.connect(address)
        peer = Peer(session, conn, address, events if events is not None else [])
        self.peers[conn] = peer
        self._apply(actions)
        self.pump()
        return peer

    def reconnect(self, peer: Peer) -> Peer:
        """Drop the peer's connection and connect the same session again."""
        self.drop(peer)
        peer.session.reconnecting()
        return self.connect(peer.session, peer.address, peer.events)

    def drop(self, peer: Peer) -> None:
        if peer.conn in self.peers:
            del self.peers[peer.conn]
            self._apply(self.registry.disconnect(peer.conn))
            self.pump()

    def send_raw(self, peer: Peer, frame: Frame) -> None:
        self._deliver_to_server(peer, frame)
        self.pump()

    def pump(self) -> None:
        for _ in range(1000):
            moved = False
            for peer in list(self.peers.values()):
                for frame in peer.session.take_outgoing():
                    moved = True
                    self._deliver_to_server(peer, frame)
            if not moved:
                return
        raise AssertionError("the network never went quiet")

    def tick(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        self._apply(self.registry.tick())
        self.pump()

    def _deliver_to_server(self, peer: Peer, frame: Frame) -> None:
        if peer.conn not in self.peers:
            return
        data = encode_frame(frame)
        self.wire.append(data)
        self._apply(self.registry.receive(peer.conn, decode_frame(data)))

    def _apply(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._to_client(action.conn, action.frame)
            elif isinstance(action, Publish):
                for conn in self.registry.audience(action.circle):
                    self._to_client(conn, action.frame)
            elif isinstance(action, Close):
                peer = self.peers.pop(action.conn, None)
                if peer is not None:
                    peer.closed = (action.code, action.reason)
                    if action.code in FINAL_CLOSE:  # as the client shell does (client.py)
                        peer.session.wipe()
                    self._apply(self.registry.disconnect(action.conn))

    def _to_client(self, conn: int, frame: Frame) -> None:
        peer = self.peers.get(conn)
        if peer is None:
            return
        data = encode_frame(frame)
        self.wire.append(data)
        decoded = decode_frame(data)
        peer.frames.append(decoded)
        peer.events.extend(peer.session.receive(decoded))

    # -- flows ----------------------------------------------------------------------------
    def open(self, handle: str = "calm-heron", **kwargs: Any) -> Peer:
        fac = self.connect()
        kwargs.setdefault("title", "Tuesday evening circle")
        kwargs.setdefault("rules", "Be kind. What is said here stays here.")
        fac.session.open_circle(self.SERVER_URL, handle=handle, **kwargs)
        self.pump()
        fac.last(ev.CircleOpened)
        return fac

    def join(self, fac: Peer, handle: str, address: str = "10.0.0.2", admit: bool = True) -> Peer:
        peer = self.connect(address=address)
        invite = fac.session.invite
        assert invite is not None
        peer.session.join(str(invite))
        self.pump()
        peer.last(ev.RulesToAccept)
        peer.session.accept_rules(handle)
        self.pump()
        if admit and not fac.session.auto_admit:
            knock = fac.last(ev.KnockReceived)
            fac.session.admit(knock.member)
            self.pump()
        return peer
