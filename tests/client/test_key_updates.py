"""Member key rotation (PROTOCOL.md 9.3): every member announces a fresh epoch key each epoch,
the lead seals the next commit to it, and nobody else can put a key in a member's name."""

from __future__ import annotations

import dataclasses

from circle_client import events as ev
from protocol.crypto import MemberKeys
from protocol.errors import ErrorCode
from protocol.frames import KeyUpdate, Rekey
from protocol.kem import EpochKeyPair, sign_key_update
from tests.client.hostile import HostileNet, alerts
from tests.client.test_attacks import circle_of, member_id
from tests.pair import Peer


def _lead_rekeys(net: HostileNet, fac: Peer) -> Rekey:
    lead = fac.session.lead
    assert lead is not None
    fac.session._send(*lead.rekey())
    net.pump()
    rekeys = [f for f in net.sent_to(fac, Rekey) if isinstance(f, Rekey)]
    return rekeys[-1]


def test_the_lead_seals_each_commit_to_the_key_each_member_just_announced() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    for _ in range(3):
        lead_view = fac.session.circle
        assert lead_view is not None
        announced = {m: key_id for m, (key_id, _) in lead_view.peer_keys.items()}
        epoch = lead_view.epoch
        # Every other member announced its key for the next epoch, and the lead verified it.
        assert announced == {member_id(a): epoch + 1, member_id(b): epoch + 1}
        rekey = _lead_rekeys(net, fac)
        assert {e.member: e.key for e in rekey.keys if e.member != member_id(fac)} == announced
        for peer in (a, b):
            circle = peer.session.circle
            assert circle is not None and circle.epoch == epoch + 1
            # The key just used is kept until a commit to a newer one; older ones are gone.
            assert sorted(circle._own_keys) == [epoch + 1, epoch + 2]
    a.session.post("still reading each other")
    net.pump()
    assert b.last(ev.MessageReceived).content.body == "still reading each other"


def test_a_key_update_the_server_wrote_or_relabelled_is_refused() -> None:
    """A server that puts its own key in a member's name would read that member's next
    commit secret; one that relabels b's update as a's would cut a off."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    lead_view = fac.session.circle
    assert lead_view is not None
    before = dict(lead_view.peer_keys)
    own = EpochKeyPair.for_suite(lead_view.epoch + 2, lead_view.suite)
    server_signed = sign_key_update(
        MemberKeys.generate().sign, lead_view.circle_id, member_id(a), lead_view.suite, own
    )
    forged = KeyUpdate(
        epoch=own.epoch,
        x25519=own.public.x25519,
        mlkem=own.public.mlkem,
        sig=server_signed.sig,
        member=member_id(a),
        rseq=None,
    )
    assert [x.kind for x in alerts(net.inject(fac, forged))] == ["tampered"]
    real = [f for f in net.sent_to(fac, KeyUpdate) if isinstance(f, KeyUpdate)]
    from_b = next(f for f in real if f.member == member_id(b))
    relabelled = dataclasses.replace(from_b, member=member_id(a))
    assert [x.kind for x in alerts(net.inject(fac, relabelled))] == ["tampered"]
    assert lead_view.peer_keys == before
    # The next commit still reaches a under a's own key.
    rekey = _lead_rekeys(net, fac)
    assert a.session.circle is not None and a.session.circle.epoch == rekey.epoch


def test_the_server_relays_one_key_update_per_member_per_epoch() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    circle = a.session.circle
    assert circle is not None
    sent = [f for f in net.sent_to(b, KeyUpdate) if getattr(f, "member", None) == member_id(a)]
    assert len(sent) == 1
    update = dataclasses.replace(sent[0], member=None, rseq=None)
    net.send_raw(a, update)  # the same again (a resend after a reconnect): dropped
    pair = EpochKeyPair.for_suite(circle.epoch + 2, circle.suite)
    signed = sign_key_update(circle.keys.sign, circle.circle_id, member_id(a), circle.suite, pair)
    ahead = KeyUpdate(
        epoch=pair.epoch,
        x25519=pair.public.x25519,
        mlkem=pair.public.mlkem,
        sig=signed.sig,
        member=None,
        rseq=None,
    )
    net.send_raw(a, ahead)  # for an epoch after the next one: refused
    net.pump()
    again = [f for f in net.sent_to(b, KeyUpdate) if getattr(f, "member", None) == member_id(a)]
    assert again == sent
    assert [e.code for e in a.of(ev.ErrorReceived)] == [ErrorCode.OUT_OF_ORDER]
