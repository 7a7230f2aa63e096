"""Epoch changes against the real registry, no sockets: nothing posted after an admission
is silently lost (S5, S6)."""

from __future__ import annotations

from circle_client import events as ev
from protocol.frames import Relayed
from tests.pair import Net, Peer


def bodies(peer: Peer) -> list[str]:
    return [m.content.body for m in peer.of(ev.MessageReceived)]


def test_post_right_after_admit_reaches_the_newcomer() -> None:
    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    b = net.join(fac, "gentle-lynx", address="10.0.0.3", admit=False)
    knock = fac.last(ev.KnockReceived)
    # The facilitator posts before its own rekey has come back from the server.
    fac.session.admit(knock.member)
    fac.session.post("welcome, glad you are here")
    net.pump()
    assert bodies(b) == ["welcome, glad you are here"]
    assert bodies(a) == ["welcome, glad you are here"]
    assert bodies(fac) == ["welcome, glad you are here"]
    assert not b.of(ev.Gap) and not a.of(ev.Gap)


def test_two_admissions_before_any_echo_get_two_epochs() -> None:
    net = Net()
    fac = net.open()
    b = net.join(fac, "gentle-lynx", address="10.0.0.3", admit=False)
    c = net.join(fac, "brave-finch", address="10.0.0.4", admit=False)
    first, second = fac.of(ev.KnockReceived)
    epoch = fac.session.circle.epoch  # type: ignore[union-attr]
    fac.session.admit(first.member)
    fac.session.admit(second.member)
    msg_id = fac.session.post("two of you at once")
    net.pump()
    assert msg_id[1] == epoch + 2
    for peer in (fac, b, c):
        assert bodies(peer) == ["two of you at once"]
        assert len(peer.last(ev.RosterChanged).members) == 3
    b.session.post("hello both")
    net.pump()
    assert bodies(c)[-1] == "hello both" and bodies(fac)[-1] == "hello both"


def test_facilitator_sees_each_roster_change_once() -> None:
    net = Net()
    fac = net.open()
    before = len(fac.of(ev.RosterChanged))
    net.join(fac, "quiet-otter")
    changes = fac.of(ev.RosterChanged)[before:]
    assert [len(c.members) for c in changes] == [2]
    joined = [n for n in fac.of(ev.NoticeReceived) if n.action == "joined"]
    assert len(joined) == 1


def test_post_sealed_before_the_rekey_arrived_shows_the_newcomer_a_gap() -> None:
    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    b = net.join(fac, "gentle-lynx", address="10.0.0.3", admit=False)
    fac.session.admit(fac.last(ev.KnockReceived).member)
    # quiet-otter has not seen the rekey yet: its post is under the epoch before gentle-lynx.
    a.session.post("did anyone else sleep badly")
    net.pump()
    assert bodies(fac) == ["did anyone else sleep badly"]
    assert bodies(b) == []
    gap = b.last(ev.Gap)
    assert (gap.sender, gap.handle, gap.count) == (a.session.member, "quiet-otter", 1)
    # The same message again (a resume, a replay) is not a second gap.
    relayed = [f for f in b.frames if isinstance(f, Relayed)]
    assert b.session.receive(relayed[-1]) == []
    a.session.post("sorry, I mean last night")
    net.pump()
    assert bodies(b) == ["sorry, I mean last night"]
    assert len(b.of(ev.Gap)) == 1


def test_handover_ends_with_a_roster_event_for_both_leads() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    fac.session.moderate("handover", target=a.session.member)
    net.pump()
    for peer, leads in ((fac, False), (a, True)):
        assert isinstance(peer.events[-1], ev.RosterChanged)
        assert (peer.session.lead is not None) is leads


def test_a_quiet_epoch_ends_after_fifteen_minutes() -> None:
    """Forward secrecy does not wait for chatter (S5): the lead moves on by the clock too."""
    from circle_client.facilitation import EPOCH_SECONDS

    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    assert a.session.circle is not None
    epoch = a.session.circle.epoch
    net.clock.advance(EPOCH_SECONDS - 1)
    fac.session.tick()
    net.pump()
    assert a.session.circle.epoch == epoch
    net.clock.advance(2)
    fac.session.tick()
    net.pump()
    assert a.session.circle.epoch == epoch + 1


def test_reactions_count_towards_the_end_of_an_epoch() -> None:
    from circle_client.facilitation import PERIODIC_REKEY_MESSAGES

    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    assert a.session.circle is not None
    target = a.session.post("one post")
    net.pump()
    epoch = a.session.circle.epoch
    for _ in range(PERIODIC_REKEY_MESSAGES - 1):
        net.clock.advance(1)  # under the server's rate limit, well inside fifteen minutes
        a.session.react(target, "i_hear_you")
        net.pump()
    assert a.session.circle.epoch == epoch + 1


def test_the_fingerprint_names_the_epoch_and_changes_with_every_roster() -> None:
    """S4: members at one epoch who read the same digits hold the same history."""
    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    before = a.session.fingerprint()
    assert before == fac.session.fingerprint()
    assert a.session.circle is not None
    assert before.startswith(f"epoch {a.session.circle.epoch} · ")
    net.join(fac, "gentle-lynx", address="10.0.0.3")
    after = a.session.fingerprint()
    assert after == fac.session.fingerprint() and after != before
    assert after.split(" · ")[1] != before.split(" · ")[1]
