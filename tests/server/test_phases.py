"""Agenda phases (F4) in the registry with a fake clock: set, clear, who may, who learns it."""

from __future__ import annotations

import msgpack
import pytest

from circle_client import events as ev
from circle_server.metrics import Metrics
from circle_server.registry import Registry
from circle_server.snapshot import SnapshotError, dump_circle, load_circle
from protocol.errors import ErrorCode, LocalProtocolError
from protocol.frames import Notice
from protocol.handshake import sign_moderate
from tests.pair import Net, Peer


@pytest.fixture
def net() -> Net:
    return Net()


def errors(peer: Peer) -> list[int]:
    return [e.code for e in peer.of(ev.ErrorReceived)]


def phase_notices(peer: Peer) -> list[Notice]:
    return [f for f in peer.frames if isinstance(f, Notice) and f.action.startswith("phase:")]


def phase_texts(peer: Peer) -> list[str]:
    return [e.text for e in peer.of(ev.NoticeReceived) if e.action.startswith("phase:")]


def circle_of(net: Net, n: int = 2) -> tuple[Peer, list[Peer]]:
    fac = net.open()
    return fac, [net.join(fac, f"member-{i}", address=f"10.0.1.{i}") for i in range(n)]


def test_the_facilitator_sets_and_clears_the_phase_for_everyone(net: Net) -> None:
    fac, (a, b) = circle_of(net)
    (circle,) = net.registry.circles.values()
    fac.session.set_phase("check-in")
    net.pump()
    assert circle.phase == "check-in"
    for peer in (fac, a, b):
        assert peer.last(ev.PhaseChanged).phase == "check-in"
        assert peer.session.phase == "check-in"
        assert phase_texts(peer) == ["Agenda phase: check-in"]
        assert phase_notices(peer)[-1].rseq == circle.rseq  # numbered: kept for resuming
    fac.session.set_phase("sharing")
    fac.session.set_phase(None)
    net.pump()
    assert circle.phase is None
    assert [e.phase for e in a.of(ev.PhaseChanged)] == ["check-in", "sharing", None]
    assert phase_texts(b)[-1] == "The agenda phase was cleared"
    with pytest.raises(LocalProtocolError):
        fac.session.set_phase("lunch")


def test_members_cannot_set_the_phase_and_a_co_facilitator_can(net: Net) -> None:
    fac, (a, b) = circle_of(net)
    (circle,) = net.registry.circles.values()
    with pytest.raises(LocalProtocolError):
        a.session.set_phase("sharing")
    assert a.session.keys is not None
    forged = sign_moderate(a.session.keys.sign, circle.id, 1, "phase:sharing")
    net.send_raw(a, forged)
    assert errors(a) == [ErrorCode.NOT_ALLOWED]
    assert circle.phase is None and not b.of(ev.PhaseChanged)
    fac.session.moderate("delegate", target=a.session.member)
    net.pump()
    a.session.set_phase("check-out")
    net.pump()
    assert circle.phase == "check-out" and b.last(ev.PhaseChanged).phase == "check-out"


def test_a_phase_change_carrying_anything_else_is_refused(net: Net) -> None:
    fac, (a,) = circle_of(net, 1)
    (circle,) = net.registry.circles.values()
    for extra in ({"target": a.session.member}, {"minutes": 5}, {"order": (1,)}):
        net.send_raw(fac, fac.session.sign_moderation("phase:sharing", **extra))
        assert errors(fac)[-1] == ErrorCode.BAD_FIELD
    assert circle.phase is None and not a.of(ev.PhaseChanged)


def test_someone_admitted_later_learns_the_current_phase(net: Net) -> None:
    fac, (a,) = circle_of(net, 1)
    assert not phase_notices(a)  # no phase: nothing is sent for it
    fac.session.set_phase("sharing")
    net.pump()
    late = net.join(fac, "late-owl", address="10.0.2.1")
    assert late.of(ev.Admitted) and late.session.phase == "sharing"
    assert late.last(ev.PhaseChanged).phase == "sharing"
    (sync,) = phase_notices(late)
    assert sync.rseq == 0 and sync.action == "phase:sharing"
    assert phase_texts(late) == []  # state to show, not news in the transcript
    kinds = [type(f).__name__ for f in late.frames]
    assert kinds.index("Welcome") < kinds.index("Notice")


def test_a_resuming_member_gets_the_phase_set_while_away_once(net: Net) -> None:
    fac, (a, b) = circle_of(net)
    net.drop(b)
    fac.session.set_phase("check-out")
    net.pump()
    b2 = net.reconnect(b)
    assert b2.session.phase == "check-out"
    assert [e.phase for e in b2.of(ev.PhaseChanged)] == ["check-out"]
    assert phase_texts(b2) == ["Agenda phase: check-out"]  # the replay; the state adds nothing


def test_a_resume_past_the_buffer_still_learns_the_phase() -> None:
    net = Net(resume_buffer=16, rate_burst=100)
    fac, (a, b) = circle_of(net)
    fac.session.set_phase("check-in")
    net.pump()
    net.drop(b)
    fac.session.set_phase(None)  # cleared while b is away, and the notice scrolls away
    for i in range(20):
        a.session.post(f"while b was away {i}")
    net.pump()
    b2 = net.reconnect(b)
    assert b2.last(ev.Resumed).lost
    assert b2.session.phase is None and b2.last(ev.PhaseChanged).phase is None
    assert phase_notices(b2)[-1].action == "phase:none"


def test_the_phase_survives_a_snapshot_and_a_take_over(net: Net) -> None:
    fac, (a, b) = circle_of(net)
    fac.session.set_phase("sharing")
    net.pump()
    (circle,) = net.registry.circles.values()
    data = dump_circle(circle)
    assert msgpack.unpackb(data)[-3] == "sharing"  # before the listing approval and epoch
    # Another node takes the circle over; the members resume there.
    for peer in (fac, a, b):
        del net.peers[peer.conn]
        peer.session.reconnecting()
    net.registry = Registry(net.config, net.clock)
    taken = load_circle(data, list(circle.buffer), 512, net.clock())
    assert taken.phase == "sharing"
    net.registry.adopt_circle(taken)
    back = net.connect(b.session, b.address, b.events)
    assert back.last(ev.Resumed) and not errors(back)
    assert phase_notices(back)[-1].action == "phase:sharing"
    assert back.session.phase == "sharing"


def test_older_and_broken_snapshots(net: Net) -> None:
    fac, _ = circle_of(net, 1)
    (circle,) = net.registry.circles.values()
    circle.phase = "check-in"
    raw = msgpack.unpackb(dump_circle(circle))
    version_1 = msgpack.packb([1, *raw[1:-3]])  # written before phases existed
    assert load_circle(version_1, [], 512, net.clock()).phase is None
    version_2 = msgpack.packb([2, *raw[1:-2]])  # before listing approvals
    loaded = load_circle(version_2, [], 512, net.clock())
    assert loaded.phase == "check-in" and loaded.listing_approval is None
    version_3 = msgpack.packb([3, *raw[1:-1]])  # before the epoch was counted
    assert load_circle(version_3, [], 512, net.clock()).epoch == 0
    broken_cases = (
        [1, *raw[1:]],
        [2, *raw[1:-3]],
        [5, *raw[1:]],
        [2, *raw[1:-3], "lunch"],
        [3, *raw[1:-2], [b"k", b"s"]],
    )
    for broken in broken_cases:
        with pytest.raises(SnapshotError):
            load_circle(msgpack.packb(broken), [], 512, net.clock())


def _take_over(net: Net, peers: list[Peer]) -> None:
    """The owner node dies and another adopts the circle from its snapshot."""
    (circle,) = net.registry.circles.values()
    data, buffer = dump_circle(circle), list(circle.buffer)
    for peer in peers:
        del net.peers[peer.conn]
        peer.session.reconnecting()
    net.registry = Registry(net.config, net.clock)
    net.registry.adopt_circle(load_circle(data, buffer, 512, net.clock()))


def paused(peer: Peer) -> list[Notice]:
    return [f for f in peer.frames if isinstance(f, Notice) and f.action == "paused"]


def test_a_facilitator_missing_after_a_take_over_pauses_the_circle_when_the_window_ends(
    net: Net,
) -> None:
    """Members have 10 s to resume on the new node; a facilitator still missing then pauses
    admissions (F6) once, and its return ends the pause."""
    fac, (a, b) = circle_of(net)
    _take_over(net, [fac, a, b])
    back = [net.connect(p.session, p.address, p.events) for p in (a, b)]
    net.tick(5.0)
    assert not [n for p in back for n in paused(p)]  # still inside the settle window
    net.tick(6.0)
    assert [len(paused(p)) for p in back] == [1, 1]
    assert back[0].last(ev.NoticeReceived).action == "paused"
    net.tick(1.0)
    assert [len(paused(p)) for p in back] == [1, 1]  # told once
    fac_back = net.connect(fac.session, fac.address, fac.events)
    assert fac_back.last(ev.Resumed) and not errors(fac_back)
    (circle,) = net.registry.circles.values()
    assert circle.paused_until is None
    fac_back.session.post("back with you")
    net.pump()
    assert back[1].last(ev.MessageReceived).content.body == "back with you"


def _values(metrics: Metrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics.render().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_take_overs_and_resumes_are_counted_in_the_metrics() -> None:
    net = Net(resume_buffer=16, rate_burst=100)
    fac, (a, b) = circle_of(net)
    net.drop(b)
    for i in range(20):  # more than the resume buffer keeps: b's resume loses some
        a.session.post(f"while b was away {i}")
    net.pump()
    before = Metrics(net.registry)
    assert _values(before)['circle_resumes_total{outcome="lost"}'] == 0
    b = net.reconnect(b)
    values = _values(before)
    assert values['circle_resumes_total{outcome="lost"}'] == 1
    assert values['circle_resumes_total{outcome="complete"}'] == 0
    assert values["circle_take_overs_total"] == 0
    _take_over(net, [fac, a, b])
    metrics = Metrics(net.registry)
    for peer in (fac, a):
        net.connect(peer.session, peer.address, peer.events)
    values = _values(metrics)
    assert values["circle_take_overs_total"] == 1
    assert values['circle_resumes_total{outcome="complete"}'] == 2
