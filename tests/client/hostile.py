"""A rewriting relay for attack tests: the real registry, with a hostile server in between.

:class:`HostileNet` is :class:`tests.pair.Net` with a hook on everything the server sends a
client. The attacker decodes frames with the project's codec and holds only what a server
holds (the registry's state, every frame it relayed); it can drop, replay, reorder, rewrite
and inject frames, but signs with no member's key and knows no epoch key.
"""

from __future__ import annotations

from collections.abc import Callable

from circle_client import events as ev
from protocol.frames import Frame
from tests.pair import Net, Peer

Rewrite = Callable[[Peer, Frame], list[Frame]]


class HostileNet(Net):
    """A :class:`Net` whose server may rewrite what each client receives."""

    def __init__(self, **overrides: object) -> None:
        super().__init__(**overrides)  # type: ignore[arg-type]
        self.rewrite: Rewrite | None = None
        self.seen: list[tuple[Peer, Frame]] = []  # every frame the server sent, as sent

    def _to_client(self, conn: int, frame: Frame) -> None:
        peer = self.peers.get(conn)
        if peer is None:
            return
        self.seen.append((peer, frame))
        frames = [frame] if self.rewrite is None else self.rewrite(peer, frame)
        for out in frames:
            super()._to_client(conn, out)

    def inject(self, peer: Peer, frame: Frame) -> list[ev.Event]:
        """Send ``peer`` a frame of the attacker's making; return the events it caused."""
        before = len(peer.events)
        super()._to_client(peer.conn, frame)
        self.pump()
        return peer.events[before:]

    def sent_to(self, peer: Peer, kind: type[Frame]) -> list[Frame]:
        """Frames of ``kind`` the server sent ``peer`` (before any rewriting)."""
        return [f for p, f in self.seen if p is peer and isinstance(f, kind)]


def alerts(events: list[ev.Event]) -> list[ev.SecurityAlert]:
    return [e for e in events if isinstance(e, ev.SecurityAlert)]


def roles(peer: Peer) -> dict[str, str]:
    """Handle -> role on the peer's verified roster."""
    circle = peer.session.circle
    assert circle is not None
    return {e.handle: e.role for e in circle.roster.values()}
