"""Attacks on who is in a circle, who facilitates it, and what a facilitator did (S2-S6, S10).

Each test is an attack by a hostile server (the rewriting relay in :mod:`tests.client.hostile`,
holding only what a server holds) or by a malicious member writing its own frames. Each
asserts that no honest client accepts it and that the person attacked sees an alert.
SECURITY.md's attack table names these tests.
"""

from __future__ import annotations

import dataclasses

import pytest

from circle_client import events as ev
from circle_client.session import OVERDUE_SECONDS
from circle_server.actions import CloseCode
from protocol import crypto
from protocol.codec import pack
from protocol.content import ConcernContent, RosterContent
from protocol.errors import ErrorCode, LocalProtocolError
from protocol.frames import (
    Concern,
    ConcernNotice,
    Envelope,
    Frame,
    Knocked,
    Notice,
    Rekey,
    Relayed,
    Welcome,
)
from protocol.group import CONCERN_BUCKETS, FacilitatorSigner
from tests.client.hostile import HostileNet, alerts, roles
from tests.pair import Peer


def bodies(peer: Peer) -> list[str]:
    return [m.content.body for m in peer.of(ev.MessageReceived)]


def circle_of(net: HostileNet, *handles: str) -> tuple[Peer, list[Peer]]:
    fac = net.open()
    members = [net.join(fac, handle, address=f"10.0.0.{i + 2}") for i, handle in enumerate(handles)]
    return fac, members


def member_id(peer: Peer) -> int:
    assert peer.session.member is not None
    return peer.session.member


def forged(net: HostileNet, action: str, target: int | None, **fields: object) -> Notice:
    """A notice of the server's own making, numbered like a real one."""
    circle = next(iter(net.registry.circles.values()))
    values: dict[str, object] = {
        "minutes": None,
        "seconds": None,
        "order": (),
        "note": None,
        "cert": None,
        "rseq": circle.rseq + 1,
    }
    values.update(fields)
    return Notice(action=action, target=target, **values)  # type: ignore[arg-type]


def state(peer: Peer) -> tuple[int, int, dict[int, str]]:
    circle = peer.session.circle
    assert circle is not None
    return circle.epoch, circle.roster_version, {m: e.role for m, e in circle.roster.items()}


# --------------------------------------------------------------------------- 1: rollback


def test_s10_an_old_welcome_replayed_rolls_no_one_back() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    old_welcome = net.sent_to(a, Welcome)[0]
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    before = state(a)
    events = net.inject(a, old_welcome)
    assert [x.kind for x in alerts(events)] == ["fork"]
    assert state(a) == before and member_id(b) not in before[2]
    assert a.session.admitted  # a refused welcome logs no one out
    a.session.post("after the removal")
    net.pump()
    assert bodies(fac)[-1] == "after the removal"


def test_s10_a_welcome_that_does_not_verify_logs_no_one_out() -> None:
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    real = net.sent_to(a, Welcome)[0]
    assert isinstance(real, Welcome)
    sealed = bytes([real.welcome.sealed[0] ^ 1]) + real.welcome.sealed[1:]
    bad = dataclasses.replace(real, welcome=dataclasses.replace(real.welcome, sealed=sealed))
    assert alerts(net.inject(a, bad))
    assert a.session.admitted and a.session.circle is not None
    fac.session.post("still here")
    net.pump()
    assert bodies(a)[-1] == "still here"


# --------------------------------------------------------------------------- 2: unsigned notices


@pytest.mark.parametrize("action", ["delegate", "revoke", "remove", "ban", "handover", "mute"])
def test_s10_an_unsigned_notice_changes_no_one(action: str) -> None:
    """A notice the server wrote itself: the lead signs nothing, no one is wiped or muted."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    before = [state(p) for p in (fac, a, b)]
    sent = len(net.wire)
    for peer in (fac, a, b):
        events = net.inject(peer, forged(net, action, member_id(a), minutes=5))
        assert [x.kind for x in alerts(events)] == ["unsigned"]
        assert not [e for e in events if isinstance(e, ev.NoticeReceived | ev.Removed)]
    assert [state(p) for p in (fac, a, b)] == before
    assert len(net.wire) == sent + 3  # the three forged notices; no roster, no rekey
    assert a.session.admitted and a.session.muted_until == 0.0
    assert fac.session.lead is not None  # a forged hand-over did not make the lead stop
    fac.session.moderate("remove", target=member_id(b))  # and a real removal still rekeys
    net.pump()
    assert b.session.closed and member_id(b) not in state(a)[2]


def test_s10_a_signed_action_relabelled_or_replayed_is_refused() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    fac.session.moderate("mute", target=member_id(a), minutes=1)
    net.pump()
    real = [f for f in net.sent_to(b, Notice) if isinstance(f, Notice) and f.action == "mute"][0]
    assert isinstance(real, Notice) and real.signed is not None
    relabelled = dataclasses.replace(real, action="remove", rseq=real.rseq + 10)
    retargeted = dataclasses.replace(real, target=member_id(b), rseq=real.rseq + 11)
    for frame, kind in ((relabelled, "tampered"), (retargeted, "tampered"), (real, "replay")):
        events = net.inject(b, frame)
        assert [x.kind for x in alerts(events)] == [kind]
    assert b.session.admitted and b.session.muted_until == 0.0


def test_s3_a_members_own_leave_cannot_be_pinned_on_another() -> None:
    """A malicious member signs its leave; the server attaches it to someone else."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    a_keys = a.session.keys
    circle = a.session.circle
    assert a_keys is not None and circle is not None
    from protocol.handshake import leave_proof

    proof = leave_proof(a_keys.sign, circle.circle_id, member_id(a))
    before = state(fac)
    events = net.inject(fac, forged(net, "left", member_id(b), proof=proof))
    assert [x.kind for x in alerts(events)] == ["tampered"]
    assert state(fac) == before  # the lead did not rekey b out


# --------------------------------------------------------------------------- 3: withheld removal


def test_s5_the_leads_removal_does_not_wait_for_the_servers_notice() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.rewrite = lambda peer, f: [] if isinstance(f, Notice) and f.action == "remove" else [f]
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    assert member_id(b) not in state(fac)[2] and member_id(b) not in state(a)[2]
    assert b.session.closed  # and b's keys are gone
    net.rewrite = None
    c = net.join(fac, "kind-hare", address="10.0.0.9")
    fac.session.post("for the three of us")
    net.pump()
    assert bodies(c)[-1] == bodies(a)[-1] == "for the three of us"
    rekeys = [f for f in net.sent_to(a, Rekey) if isinstance(f, Rekey)]
    assert member_id(b) not in {k.member for r in rekeys[-2:] for k in r.keys}


def test_s10_a_co_facilitators_removal_withheld_from_the_lead_raises_an_alert() -> None:
    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    fac.session.moderate("delegate", target=member_id(co))
    net.pump()
    assert roles(co)["quiet-otter"] == "co"
    net.rewrite = lambda peer, f: (
        [] if peer is fac and isinstance(f, Notice) and f.action == "remove" else [f]
    )
    co.session.moderate("remove", target=member_id(b))
    net.pump()
    assert member_id(b) in state(co)[2]  # the lead never heard: b still holds the key
    net.clock.advance(OVERDUE_SECONDS + 1)
    assert [x.kind for x in alerts(co.session.tick())] == ["withheld"]


# --------------------------------------------------------------------------- 4: reused ids


def _relabel_knock(member: int) -> object:
    def rewrite(peer: Peer, frame: Frame) -> list[Frame]:
        if isinstance(frame, Knocked):
            return [dataclasses.replace(frame, member=member)]
        return [frame]

    return rewrite


def test_s10_a_knock_reusing_a_members_id_is_refused() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    for reused in (member_id(a), member_id(b)):  # a member's id, a former member's id
        net.rewrite = _relabel_knock(reused)  # type: ignore[assignment]
        before = len(fac.events)
        net.join(fac, "kind-hare", address="10.0.0.9", admit=False)
        events = fac.events[before:]
        assert alerts(events) and not [e for e in events if isinstance(e, ev.KnockReceived)]
    assert roles(fac) == {"calm-heron": "facilitator", "quiet-otter": "member"}
    fac.session.post("a is still here")
    net.pump()
    assert bodies(a)[-1] == "a is still here"


def _co_signer(net: HostileNet, fac: Peer, co: Peer) -> FacilitatorSigner:
    fac.session.moderate("delegate", target=member_id(co))
    net.pump()
    lead = fac.session.lead
    assert lead is not None and co.session.keys is not None and co.session.circle is not None
    return FacilitatorSigner(
        co.session.circle.circle_id, co.session.keys.sign, cert=lead.delegations[member_id(co)]
    )


def _co_step(signer: FacilitatorSigner, co: Peer, content: RosterContent) -> list[Frame]:
    """A commit the co signs from its own state (every secret a member holds)."""
    circle = co.session.circle
    assert circle is not None
    rekey, roster, _ = signer.commit(circle, content, {})
    return [rekey, roster]


def _bad_roster(attack: str, now: RosterContent, victim: int) -> RosterContent:
    def change(**fields: object) -> tuple[object, ...]:
        return tuple(
            dataclasses.replace(e, **fields) if e.member == victim else e  # type: ignore[arg-type]
            for e in now.members
        )

    if attack == "keys":
        return dataclasses.replace(now, members=change(box_key=crypto.system_random(32)))
    if attack == "handle":
        return dataclasses.replace(now, members=change(handle="calm-heron-2"))
    if attack == "promote":
        return dataclasses.replace(now, members=change(role="co"))
    if attack == "root":
        return dataclasses.replace(
            now, members=tuple(e for e in now.members if e.role != "facilitator")
        )
    assert attack == "version"
    return dataclasses.replace(now, version=2**53)


@pytest.mark.parametrize("attack", ["keys", "handle", "promote", "root", "version"])
def test_s10_a_co_facilitator_cannot_rewrite_the_roster(attack: str) -> None:
    """A malicious co-facilitator signs a rekey everyone could accept, with a roster that
    swaps a member's keys or handle, promotes someone, drops the root facilitator, or jumps
    to version 2^53 to make itself unrevocable."""
    net = HostileNet()
    fac, (co, b, c) = circle_of(net, "quiet-otter", "gentle-lynx", "kind-hare")
    signer = _co_signer(net, fac, co)
    circle = b.session.circle
    assert circle is not None and circle.roster_content is not None
    epoch = circle.epoch + 1
    now = dataclasses.replace(
        circle.roster_content,
        version=circle.roster_version + 1,
        epoch=epoch,
        prev=circle.transcript_hash,
    )
    before = state(b)[1:]
    frames = _co_step(signer, co, _bad_roster(attack, now, member_id(b)))
    events = [e for f in frames for e in net.inject(b, f)]
    assert alerts(events)
    assert state(b)[1:] == before  # the roster b holds is untouched
    # The lead still revokes the co and moves on, for everyone the co did not reach.
    fac.session.moderate("revoke", target=member_id(co))
    net.pump()
    assert roles(c)["quiet-otter"] == "member"
    assert state(c)[1] == before[0] + 1


def test_s10_a_rekey_leaving_out_the_root_facilitator_is_refused() -> None:
    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    signer = _co_signer(net, fac, co)
    circle = b.session.circle
    assert circle is not None
    assert circle.roster_content is not None
    others = tuple(e for e in circle.roster.values() if e.role != "facilitator")
    content = dataclasses.replace(
        circle.roster_content,
        version=circle.roster_version + 1,
        epoch=circle.epoch + 1,
        prev=circle.transcript_hash,
        members=others,
    )
    rekey = _co_step(signer, co, content)[0]
    before = state(b)
    assert [x.kind for x in alerts(net.inject(b, rekey))] == ["tampered"]
    assert state(b) == before


# --------------------------------------------------------------------------- 6: private content


def test_s10_a_concern_the_server_wrote_or_relabelled_is_refused() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    fac_keys = fac.session.keys
    assert fac_keys is not None
    plain = pack(ConcernContent(target=None, note="b said he will hurt himself tonight").to_map())
    server_made = crypto.seal_padded_to(fac_keys.box.public, bytes(68) + plain, CONCERN_BUCKETS)
    events = net.inject(fac, ConcernNotice(sender=member_id(a), sealed=server_made))
    assert [x.kind for x in alerts(events)] == ["tampered"]
    b.session.concern(None, "I am worried about the last message")
    net.pump()
    real = [f for f in net.sent_to(fac, ConcernNotice) if isinstance(f, ConcernNotice)][-1]
    relabelled = dataclasses.replace(real, sender=member_id(a))
    assert [x.kind for x in alerts(net.inject(fac, relabelled))] == ["tampered"]
    assert [x.kind for x in alerts(net.inject(fac, real))] == ["replay"]
    concerns = fac.of(ev.ConcernReceived)
    assert [(c.handle, c.note) for c in concerns] == [
        ("gentle-lynx", "I am worried about the last message")
    ]


def test_s10_a_private_note_the_server_wrote_is_not_shown() -> None:
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    a_keys = a.session.keys
    assert a_keys is not None
    phishing = crypto.seal_padded_to(
        a_keys.box.public, b"Rejoin here: circle://evil.example/x#y", (256,)
    )
    events = net.inject(a, forged(net, "warn", member_id(a), note=phishing, rseq=0))
    assert [x.kind for x in alerts(events)] == ["unsigned"]
    assert not a.of(ev.PrivateWarning)
    fac.session.moderate("warn", target=member_id(a), note="please be gentle")
    net.pump()
    assert [w.text for w in a.of(ev.PrivateWarning)] == ["please be gentle"]


def test_s10_a_check_out_mood_the_server_wrote_is_not_counted() -> None:
    from protocol.content import MoodContent
    from protocol.frames import CheckoutNotice
    from protocol.group import MOOD_BUCKETS

    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    fac_keys = fac.session.keys
    assert fac_keys is not None
    plain = bytes(36) + pack(MoodContent(mood="rough").to_map())
    fake = crypto.seal_padded_to(fac_keys.box.public, plain, MOOD_BUCKETS)
    assert alerts(net.inject(fac, CheckoutNotice(sealed=fake)))
    a.session.leave("good")
    net.pump()
    assert [m.mood for m in fac.of(ev.CheckedOut)] == ["good"]
    lead = fac.session.lead
    assert lead is not None and lead.checkouts == {"good": 1}


def test_s10_repeated_recipients_are_one_concern_and_one_check_out() -> None:
    """A malicious member names the facilitator eight times in one frame."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    a.session.concern(None, "once")
    frame = a.session.take_outgoing()[-1]
    assert isinstance(frame, Concern)
    net.send_raw(a, Concern(to=frame.to * 8))
    assert len(net.sent_to(fac, ConcernNotice)) == 1
    assert len(fac.of(ev.ConcernReceived)) == 1


# --------------------------------------------------------------------------- 7: listed circles


def test_s2_a_listed_circle_cannot_admit_everyone() -> None:
    net = HostileNet(lobby=True)
    fac = net.connect()
    with pytest.raises(LocalProtocolError):
        fac.session.open_circle(
            net.SERVER_URL, handle="calm-heron", title="t", rules="r", listed=True, auto_admit=True
        )
    # The server refuses it too, for a client that asks anyway.
    fac.session.open_circle(net.SERVER_URL, handle="calm-heron", title="t", rules="r", listed=True)
    frame = fac.session.take_outgoing()[-1]
    from protocol.handshake import sign_open

    keys = fac.session.keys
    assert keys is not None
    greedy = sign_open(
        keys.sign, fac.session.challenge, dataclasses.replace(frame, auto_admit=True)
    )
    net.send_raw(fac, greedy)
    assert fac.last(ev.ErrorReceived).code == ErrorCode.NOT_ALLOWED


# --------------------------------------------------------------------------- 8: the rest


@pytest.mark.parametrize("handle", ["quiet-otter\u200b", "quiet-\u043etter", "QUIET OTTER"])
def test_s3_a_knock_with_a_hidden_or_foreign_letter_is_refused(handle: str) -> None:
    """A malicious member writes its own knock with a handle the client would never send."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    peer = net.join(fac, handle, address="10.0.0.9", admit=False)
    assert alerts(fac.events[-1:]) and not peer.of(ev.Admitted)
    assert list(roles(fac)) == ["calm-heron", "quiet-otter"]


@pytest.mark.parametrize(
    ("first", "twin"), [("quiet-otter", "quiet-0tter"), ("mellow-owl", "rnellow-owl")]
)
def test_s3_a_look_alike_handle_is_renamed(first: str, twin: str) -> None:
    """Skeletons (TS #39): 0 for o, rn for m."""
    net = HostileNet()
    fac, (a,) = circle_of(net, first)
    other = net.join(fac, twin, address="10.0.0.9")
    assert other.of(ev.Admitted)
    renamed = f"{twin}-{member_id(other)}"
    assert sorted(roles(a)) == sorted(["calm-heron", first, renamed])


def test_s10_a_future_epoch_frame_that_does_not_verify_is_not_held() -> None:
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    circle = a.session.circle
    assert circle is not None
    env = Envelope(epoch=circle.epoch + 1, seq=1, nonce=bytes(24), ct=bytes(300), sig=bytes(64))
    events = net.inject(a, Relayed(kind="post", sender=member_id(fac), rseq=99, env=env))
    assert [x.kind for x in alerts(events)] == ["tampered"]
    assert not a.session._pending


def test_s10_a_rekey_withheld_from_half_the_circle_raises_an_alert() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.rewrite = lambda peer, f: [] if peer is b and isinstance(f, Rekey) else [f]
    net.join(fac, "kind-hare", address="10.0.0.9")
    fac.session.post("welcome, kind-hare")
    net.pump()
    assert bodies(a)[-1] == "welcome, kind-hare" and "welcome, kind-hare" not in bodies(b)
    assert not alerts(b.session.tick())  # held, not yet overdue
    net.clock.advance(OVERDUE_SECONDS + 1)
    assert [x.kind for x in alerts(b.session.tick())] == ["withheld"]


def test_s10_a_removed_members_connection_is_closed_by_the_server_too() -> None:
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    assert b.closed is not None and b.closed[0] == CloseCode.REMOVED


def test_s2_a_pinned_host_key_keeps_the_servers_own_circles_out_of_the_lobby() -> None:
    """A listed circle is vouched for by the server alone, unless the person pins a
    host-approved facilitator key: then only circles that key approved are listed."""
    from protocol.crypto import SigningKeys
    from protocol.frames import Lobby

    net = HostileNet(lobby=True)
    host_key = SigningKeys.generate()
    for title, approval in (("Approved circle", host_key), ("The server's circle", None)):
        opener = net.connect()
        opener.session.open_circle(
            net.SERVER_URL,
            handle="calm-heron",
            title=title,
            rules="r",
            listed=True,
            approval_key=approval,
        )
        net.pump()

    def listing(trusted: frozenset[bytes]) -> ev.LobbyListed:
        reader = net.connect(address="10.0.0.7")
        reader.session.trusted_keys = trusted
        reader.session.request_lobby()
        net.pump()
        listed: ev.LobbyListed = reader.last(ev.LobbyListed)
        return listed

    pinned = listing(frozenset({host_key.public}))
    assert [(c.title, c.approved_by) for c in pinned.circles] == [
        ("Approved circle", host_key.public.hex())
    ]
    assert pinned.hidden == 1
    anyone = listing(frozenset())
    assert sorted(c.title for c in anyone.circles) == ["Approved circle", "The server's circle"]
    assert {c.approved_by for c in anyone.circles} == {None}  # the server's word only
    # The server puts its own facilitator key under the approved entry: it no longer verifies.
    evil = SigningKeys.generate().public

    def swap(peer: Peer, frame: Frame) -> list[Frame]:
        if isinstance(frame, Lobby):
            entries = tuple(
                dataclasses.replace(e, facilitator_key=evil, fingerprint=crypto.fingerprint(evil))
                for e in frame.circles
            )
            return [Lobby(circles=entries)]
        return [frame]

    net.rewrite = swap
    swapped = listing(frozenset({host_key.public}))
    assert swapped.circles == () and swapped.hidden == 2
