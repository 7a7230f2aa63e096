"""Hostile input at the registry: random frames from a stranger, a joiner and an admitted
member never raise, never disturb the others, and never break the circle's invariants (S9)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circle_client import events as ev
from circle_server.actions import Close, Publish, Send
from protocol import limits
from protocol.frames import FRAME_TYPES, Frame, Hello
from protocol.states import MemberState
from tests.pair import Net
from tests.protocol.strategies import for_struct

CLIENT_FRAMES = [
    cls
    for name, cls in FRAME_TYPES.items()
    if name
    not in {
        "server_hello",
        "opened",
        "info",
        "knocked",
        "welcome",
        "declined",
        "relayed",
        "concern_notice",
        "checkout_notice",
        "notice",
        "timer",
        "closed",
        "lobby",
        "resumed",
        "error",
    }
]
ANY_CLIENT_FRAME = st.one_of([for_struct(cls) for cls in CLIENT_FRAMES])


def build() -> tuple[Net, list, object]:  # type: ignore[type-arg]
    net = Net()
    fac = net.open()
    a = net.join(fac, "steady-wren", address="10.0.3.1")
    b = net.join(fac, "kind-robin", address="10.0.3.2")
    return net, [fac, a, b], fac


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), ANY_CLIENT_FRAME), min_size=1, max_size=25))
def test_random_frames_never_break_the_registry(script: list[tuple[int, Frame]]) -> None:
    net, (fac, a, b), _ = build()
    stranger = net.connect(address="10.0.3.9")
    joiner = net.connect(address="10.0.3.8")
    joiner.session.join(str(fac.session.invite))
    net.pump()
    attackers = [stranger, joiner, b]
    registry = net.registry
    circle = next(iter(registry.circles.values()))
    for who, frame in script:
        peer = attackers[who]
        if peer.conn not in net.peers:
            continue
        actions = registry.receive(peer.conn, frame)  # must not raise
        assert all(isinstance(x, Send | Publish | Close) for x in actions)
        net._apply(actions)
        net.pump()
        if circle.id in registry.circles:
            assert circle.seated_count() <= circle.capacity
            for member in circle.members.values():
                assert member.state is not MemberState.GONE
    # The facilitator and the other member are unaffected: they still talk, unless the circle
    # was legitimately closed (only a facilitator-signed close could do that, and b is not one).
    assert circle.id in registry.circles
    a.session.post("still here after all that")
    net.pump()
    assert fac.last(ev.MessageReceived).content.body == "still here after all that"


def test_hello_twice_and_garbage_before_hello() -> None:
    net, _, _ = build()
    peer = net.connect()
    actions = net.registry.receive(peer.conn, Hello(version=limits.PROTOCOL_VERSION))
    assert [type(x.frame).__name__ for x in actions if isinstance(x, Send)] == ["Error"]
