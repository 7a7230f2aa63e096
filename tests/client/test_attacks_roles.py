"""More attacks on authority (S5, S10): malicious co-facilitators, withheld and rewritten
notices, handle games, and the honest flows around them (resume, hand-over, a refused
admission) that must raise no false alarm and leave no one stranded.

Like tests/client/test_attacks.py, each test is a hostile server (the rewriting relay in
hostile.py) or a malicious member or co-facilitator writing its own frames.
"""

from __future__ import annotations

import dataclasses

from circle_client import events as ev
from circle_client.session import OVERDUE_SECONDS
from protocol.frames import Moderate, Notice, Rekey, Roster
from protocol.group import FacilitatorSigner
from tests.client.hostile import HostileNet, alerts, roles
from tests.client.test_attacks import circle_of, member_id, state
from tests.pair import Peer


def _next_rseq(net: HostileNet) -> int:
    circle = next(iter(net.registry.circles.values()))
    circle.rseq += 1
    return circle.rseq


def _wrap(net: HostileNet, signed: Moderate) -> Notice:
    """What a hostile server sends when it carries a signed action the honest server refused."""
    return Notice(
        action=signed.action,
        target=signed.target,
        minutes=signed.minutes,
        seconds=signed.seconds,
        order=signed.order,
        note=None,
        cert=signed.cert,
        rseq=_next_rseq(net),
        signed=signed,
    )


def _delegate(net: HostileNet, fac: Peer, co: Peer) -> FacilitatorSigner:
    fac.session.moderate("delegate", target=member_id(co))
    net.pump()
    assert roles(fac)[co.session.handle] == "co"
    lead = fac.session.lead
    assert lead is not None and co.session.keys is not None and co.session.circle is not None
    return FacilitatorSigner(
        co.session.circle.circle_id, co.session.keys.sign, cert=lead.delegations[member_id(co)]
    )


def _co_leaves_out(
    net: HostileNet, co: Peer, signer: FacilitatorSigner, view: Peer, victim: Peer
) -> None:
    """The co signs the next rekey and roster, built on its own state (the same history as
    ``view``'s), without ``victim``, and sends them as a facilitator would."""
    circle = co.session.circle
    assert circle is not None and circle.roster_content is not None
    assert view.session.circle is not None
    assert circle.transcript_hash == view.session.circle.transcript_hash
    keep = [e for e in circle.roster.values() if e.member != member_id(victim)]
    content = dataclasses.replace(
        circle.roster_content,
        version=circle.roster_version + 1,
        epoch=circle.epoch + 1,
        prev=circle.transcript_hash,
        members=tuple(keep),
    )
    rekey, roster, _ = signer.commit(circle, content, {})
    net.send_raw(co, rekey)
    net.send_raw(co, roster)


# --------------------------------------------------------------------------- 1: revoke withheld


def test_s10_the_leads_revoke_does_not_wait_for_the_servers_notice() -> None:
    """The lead revokes a co-facilitator; the server drops the revoke notice to the lead
    only. The lead rekeys on the echo alone, so the co keeps its role on every roster (it
    still gets every concern and may sign rekeys), while the members are shown "quiet-otter
    is no longer a co-facilitator". Nobody is alerted, even after 5 s (unlike `remove`)."""
    from protocol.frames import Concern

    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    _delegate(net, fac, co)
    net.rewrite = lambda peer, f: (
        [] if peer is fac and isinstance(f, Notice) and f.action == "revoke" else [f]
    )
    fac.session.moderate("revoke", target=member_id(co))
    net.pump()
    net.clock.advance(OVERDUE_SECONDS + 1)
    late = alerts(fac.session.tick())
    b.session.concern(None, "about quiet-otter")
    sent = [f for f in b.session.take_outgoing() if isinstance(f, Concern)][-1]
    to_co = member_id(co) in {entry.member for entry in sent.to}
    assert not to_co or [x.kind for x in late] == ["withheld"], (
        "b was told the co was revoked, yet seals its concern to the co; the lead is not told"
    )


# --------------------------------------------------------------------------- 2: co vs the lead


def test_s10_a_co_cannot_rekey_the_lead_out_after_a_handover() -> None:
    """After the root hands over to W, a malicious co signs its own rekey + roster leaving W
    out. The honest server streams any facilitator's rekey; members protect only the root key,
    so W (the lead) is wiped as 'removed' and the circle has no lead."""
    net = HostileNet()
    fac, (co, w, b) = circle_of(net, "quiet-otter", "gentle-lynx", "kind-hare")
    signer = _delegate(net, fac, co)
    fac.session.moderate("handover", target=member_id(w))
    net.pump()
    assert w.session.lead is not None and roles(b)["gentle-lynx"] == "facilitator"
    _co_leaves_out(net, co, signer, b, w)
    assert not w.of(ev.Removed), "a co-facilitator removed the lead facilitator"
    assert w.session.lead is not None


def test_s10_a_co_cannot_remove_the_lead_even_if_the_server_carries_it() -> None:
    """A co-facilitator signs `remove <lead>`; the honest server refuses it ("a co-facilitator
    cannot act on the facilitator") but a colluding server carries it. The lead's client checks
    only that the signer is a co, and wipes itself on `remove` about itself."""
    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    _delegate(net, fac, co)
    signed = co.session.sign_moderation("remove", target=member_id(fac))
    events = net.inject(fac, _wrap(net, signed))
    assert not [e for e in events if isinstance(e, ev.Removed)]
    assert fac.session.admitted and fac.session.lead is not None


def test_s10_a_co_cannot_revoke_the_lead_through_the_leads_own_client() -> None:
    """A co signs `revoke <lead>`; carried by a colluding server, the lead's own client signs
    a roster demoting itself to member (root-signed, so every member accepts it) and can no
    longer moderate at all."""
    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    _delegate(net, fac, co)
    signed = co.session.sign_moderation("revoke", target=member_id(fac))
    net.inject(fac, _wrap(net, signed))
    assert roles(b)["calm-heron"] == "facilitator"
    assert fac.session.role() == "facilitator"


def test_s10_a_co_cannot_revoke_another_co_through_the_lead() -> None:
    """Only the lead changes roles (group.py _check_changes), but a co's signed `revoke` of
    another co is accepted by the honest server and makes the lead's client sign the demotion:
    a confused deputy."""
    net = HostileNet()
    fac, (co1, co2, b) = circle_of(net, "quiet-otter", "gentle-lynx", "kind-hare")
    _delegate(net, fac, co1)
    _delegate(net, fac, co2)
    co1.session.moderate("revoke", target=member_id(co2))
    net.pump()
    assert roles(b)["gentle-lynx"] == "co"


# --------------------------------------------------------------------------- 3: handles


def test_s3_a_rename_never_collides_with_a_taken_handle() -> None:
    """A malicious member knocks as `quiet-otter-4`, the name the lead would give the next
    `quiet-otter` look-alike (id 4). The lead renames until the name is free, so its own
    roster stays valid and it can still admit and remove."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")  # id 2
    m = net.join(fac, "quiet-otter-4", address="10.0.0.8")  # id 3
    assert member_id(m) == 3
    newcomer = net.join(fac, "quiet-otter", address="10.0.0.9", admit=False)  # id 4
    knock = fac.last(ev.KnockReceived)
    assert knock.member == 4
    fac.session.admit(knock.member)
    net.pump()
    assert newcomer.of(ev.Admitted), "an honest newcomer could not be admitted"
    assert "quiet-otter-4-2" in roles(a)
    fac.session.moderate("remove", target=member_id(m))
    net.pump()
    assert m.session.closed and "quiet-otter-4" not in roles(a)


def test_s3_c1_is_a_look_alike_of_cl() -> None:
    """skeleton() replaces `cl` -> `d` before `1` -> `l`, so `clear-sky` has skeleton
    `dear-sky` and `c1ear-sky` has `clear-sky`: the digit-one twin is not renamed."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "clear-sky")
    other = net.join(fac, "c1ear-sky", address="10.0.0.9")
    assert other.of(ev.Admitted)
    assert "c1ear-sky" not in roles(a)


# --------------------------------------------------------------------------- 4: unsigned fields


def test_s10_a_signed_mute_cannot_be_lengthened_by_the_server() -> None:
    """The notice must match what was signed only in action and target: the server rewrites
    `minutes` of a real signed 1-minute mute to 600 and the member is muted (and told) for
    ten hours, with no alert."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")

    def longer(peer: Peer, f: object) -> list[object]:
        if isinstance(f, Notice) and f.action == "mute":
            return [dataclasses.replace(f, minutes=600)]
        return [f]

    net.rewrite = longer  # type: ignore[assignment]
    fac.session.moderate("mute", target=member_id(a), minutes=1)
    net.pump()
    assert a.session.muted_until <= net.clock.now + 60 or alerts(a.events)


def test_s10_a_signed_go_around_order_cannot_be_rewritten() -> None:
    """round_start is a signed action, but the client takes `order` and `seconds` from the
    unsigned notice fields: the server reorders the go-around with no alert."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    order = (member_id(a), member_id(b))

    def reorder(peer: Peer, f: object) -> list[object]:
        if isinstance(f, Notice) and f.action == "round_start":
            return [dataclasses.replace(f, order=tuple(reversed(f.order)), seconds=5)]
        return [f]

    net.rewrite = reorder  # type: ignore[assignment]
    fac.session.moderate("round_start", order=order, seconds=120)
    net.pump()
    assert a.session.round == order or alerts(a.events)


# --------------------------------------------------------------------------- 5: _confirm


def test_s10_a_forged_rekey_echo_does_not_cancel_the_leads_resend() -> None:
    """_on_rekey/_on_roster drop the lead's unconfirmed frame *before* verifying what came
    back: a forged 'echo' with the same epoch/version makes the lead forget a rekey it would
    otherwise re-send after a dropped connection."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.rewrite = lambda peer, f: [] if isinstance(f, Rekey | Roster) else [f]
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    unconfirmed = dict(fac.session._unconfirmed)
    rekey = next(f for f in unconfirmed.values() if isinstance(f, Rekey))
    junk = dataclasses.replace(rekey, keys=(), rseq=_next_rseq(net))
    net.inject(fac, junk)
    assert any(isinstance(f, Rekey) for f in fac.session._unconfirmed.values())


# --------------------------------------------------------------------------- 7: withheld roster


def test_s10_concerns_go_only_to_facilitators_who_hold_the_epoch() -> None:
    """The lead removes a co-facilitator; the server passes b the rekey but drops the roster
    that follows it. b stays at the new epoch with the old roster (the removed co still a
    facilitator), is never told (no `withheld` alert: only held frames and co-signed removals
    are timed), and b's next concern is sealed to the removed co as well."""
    from protocol.frames import Concern

    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    _delegate(net, fac, co)
    net.rewrite = lambda peer, f: [] if peer is b and isinstance(f, Roster) else [f]
    fac.session.moderate("remove", target=member_id(co))
    net.pump()
    assert b.session.circle is not None and b.session.circle.epoch == state(fac)[0]
    net.clock.advance(OVERDUE_SECONDS + 1)
    late = alerts(b.session.tick())
    b.session.concern(None, "I am worried about quiet-otter")
    sent = [f for f in b.session.take_outgoing() if isinstance(f, Concern)][-1]
    to_removed = member_id(co) in {entry.member for entry in sent.to}
    assert late or not to_removed, "a removed co-facilitator still gets b's concerns, silently"


# --------------------------------------------------------------------------- 8: co welcomes


def test_s10_a_co_signed_welcome_cannot_seat_its_signer_as_lead_without_the_root() -> None:
    """accept_welcome checks a delegate against the roster inside the welcome, which that
    delegate wrote: a co's welcome may carry a roster with no root facilitator, the co as
    `facilitator`, and an epoch only the co holds. The joiner must refuse it."""
    from protocol.content import RosterContent, RosterEntry
    from protocol.frames import Welcome

    net = HostileNet()
    fac, (co,) = circle_of(net, "quiet-otter")
    signer = _delegate(net, fac, co)
    joiner = net.join(fac, "kind-hare", address="10.0.0.9", admit=False)
    knock = fac.last(ev.KnockReceived)
    lead = fac.session.lead
    assert lead is not None and co.session.keys is not None and co.session.circle is not None
    pending = lead.knocks[knock.member]
    circle_id = co.session.circle.circle_id
    me = RosterEntry(
        member=member_id(co),
        handle="quiet-otter",
        sign_key=co.session.keys.sign.public,
        box_key=co.session.keys.box.public,
        role="facilitator",
    )
    newcomer = RosterEntry(
        member=knock.member,
        handle="kind-hare",
        sign_key=pending.sign_key,
        box_key=pending.box_key,
        role="member",
    )
    own = co.session.circle
    roster = RosterContent(
        circle=circle_id,
        version=7,
        epoch=own.epoch + 1,
        prev=own.transcript_hash,
        members=(me, newcomer),
    )
    _, _, welcomes = signer.commit(own, roster, {knock.member: pending.key})
    body = welcomes[knock.member]
    frame = Welcome(circle=circle_id, member=knock.member, welcome=body, ends_at=0.0, rseq=0)
    net.inject(joiner, frame)
    assert not joiner.of(ev.Admitted), "a co's self-written roster admitted the joiner"


# --------------------------------------------------------------------------- 9: unsigned left


def test_s10_an_unsigned_left_does_not_remove_a_co_facilitator() -> None:
    """S10: unsigned server claims never remove, demote or wipe anyone. The server claims a
    co-facilitator's connection expired while it is connected: the lead rekeys it out, its
    client shows `Removed` and wipes, and its role is gone."""
    from tests.client.test_attacks import forged

    net = HostileNet()
    fac, (co, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    _delegate(net, fac, co)
    net.inject(fac, forged(net, "left", member_id(co)))
    net.pump()
    assert not co.of(ev.Removed) and co.session.admitted
    assert roles(b).get("quiet-otter") == "co"


# --------------------------------------------------------------------------- 10: lobby


def test_s10_a_pinned_listing_covers_the_title() -> None:
    """verify_listing checks the approval over (challenge, circle, facilitator key) only:
    the server relabels a host-approved circle and it is still listed as approved."""
    from protocol.crypto import SigningKeys
    from protocol.frames import Lobby

    net = HostileNet(lobby=True)
    host_key = SigningKeys.generate()
    opener = net.connect()
    opener.session.open_circle(
        net.SERVER_URL,
        handle="calm-heron",
        title="Grief support, Tuesdays",
        rules="r",
        listed=True,
        approval_key=host_key,
    )
    net.pump()

    def relabel(peer: Peer, frame: object) -> list[object]:
        if isinstance(frame, Lobby):
            return [
                Lobby(
                    circles=tuple(
                        dataclasses.replace(e, title="Recovery meeting: bring ID")
                        for e in frame.circles
                    )
                )
            ]
        return [frame]

    net.rewrite = relabel  # type: ignore[assignment]
    reader = net.connect(address="10.0.0.7")
    reader.session.trusted_keys = frozenset({host_key.public})
    reader.session.request_lobby()
    net.pump()
    listed = reader.last(ev.LobbyListed)
    assert [c.title for c in listed.circles if c.approved_by] != ["Recovery meeting: bring ID"]


# --------------------------------------------------------------------------- 11: ids, handles


def test_s10_a_new_lead_refuses_a_knock_reusing_an_older_id() -> None:
    """ever_seated starts from the welcome's roster: a lead handed the circle does not know
    the ids of members who left before it came. The server labels a new knock with such an
    id; the new lead admits it and signs a roster every older member refuses (a split)."""
    from protocol.frames import Knocked
    from tests.client.test_attacks import _relabel_knock

    net = HostileNet()
    fac, (a, gone) = circle_of(net, "quiet-otter", "gentle-lynx")
    old_id = member_id(gone)
    gone.session.leave()
    net.pump()
    w = net.join(fac, "kind-hare", address="10.0.0.8")
    fac.session.moderate("handover", target=member_id(w))
    net.pump()
    assert w.session.lead is not None
    net.rewrite = _relabel_knock(old_id)  # type: ignore[assignment]
    before = len(w.events)
    net.join(w, "calm-lark", address="10.0.0.9", admit=False)
    assert any(isinstance(f, Knocked) and f.member == old_id for f in w.frames)
    events = w.events[before:]
    assert not [e for e in events if isinstance(e, ev.KnockReceived)], (
        "the new lead would admit a knock under a former member's id"
    )


def test_s3_a_newcomer_cannot_take_the_handle_of_a_member_who_left() -> None:
    """handle_taken compares only with the current roster; notices and the transcript keep
    naming the member who left (ever_seated), so a newcomer can answer as them."""
    net = HostileNet()
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    a.session.post("I relapsed last week")
    net.pump()
    a.session.leave()
    net.pump()
    twin = net.join(fac, "quiet-otter", address="10.0.0.9")
    assert twin.of(ev.Admitted)
    assert "quiet-otter" not in roles(b), "a newcomer took a departed member's handle"


# --------------------------------------------------------------------------- 12: withheld removal


def test_s10_a_member_told_of_a_removal_whose_rekey_never_comes_is_alerted() -> None:
    """The lead removes x. The server (with x) passes b the signed `remove` notice but
    withholds the rekey, the roster and every new-epoch message. Nothing is ever held, so no
    `withheld` alert: b goes on sealing posts under the epoch key x holds, silently (S5).
    Only co-facilitators time a removal (_expect_gone); a member who verified one does not."""
    from protocol.frames import Relayed

    net = HostileNet()
    fac, (b, x) = circle_of(net, "quiet-otter", "gentle-lynx")
    old_epoch = state(b)[0]

    def cut(peer: Peer, f: object) -> list[object]:
        if peer is b and (
            isinstance(f, Rekey | Roster) or (isinstance(f, Relayed) and f.env.epoch > old_epoch)
        ):
            return []
        return [f]

    net.rewrite = cut  # type: ignore[assignment]
    fac.session.moderate("remove", target=member_id(x))
    net.pump()
    assert [n for n in b.of(ev.NoticeReceived) if n.action == "remove"]
    net.clock.advance(OVERDUE_SECONDS + 1)
    late = alerts(b.session.tick())
    b.session.post("now that gentle-lynx is gone, I can say it")
    sealed_for_x = b.session.circle is not None and b.session.circle.epoch == old_epoch
    assert late or not sealed_for_x, "b seals to an epoch the removed member holds, unwarned"


# --------------------------------------------------------------------------- 13: two leads


def test_s10_the_old_lead_stops_leading_once_it_signed_the_handover_roster() -> None:
    """On hand-over the old lead signs the roster naming the new lead, but drops its own
    Facilitation only when the server echoes the `handover` notice. Withhold that echo and
    the old lead goes on leading (periodic rekeys, reacting to departures) beside the new
    one: both rekey the same epoch and the circle forks."""
    net = HostileNet()
    fac, (a, w) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.rewrite = lambda peer, f: (
        [] if peer is fac and isinstance(f, Notice) and f.action == "handover" else [f]
    )
    fac.session.moderate("handover", target=member_id(w))
    net.pump()
    assert w.session.lead is not None and roles(fac)["calm-heron"] == "member"
    assert fac.session.lead is None, "two clients lead the circle"


# --------------------------------------------------------------------------- 14: the lead's state


def test_s10_a_lead_whose_own_roster_was_refused_does_not_crash_receive() -> None:
    """Session._send adopts the rekey before its roster is checked; when the roster is then
    refused (here: the rename collision above, with auto-admit), the lead is left one epoch
    ahead with no roster. Once the epoch is due, tick() raises ForkError from its rekey, and
    receive() calls tick() outside its try: every frame crashes the client's read loop."""
    from circle_client.facilitation import EPOCH_SECONDS
    from protocol.frames import Timer

    net = HostileNet()
    fac = net.open(auto_admit=True)
    net.join(fac, "quiet-otter", address="10.0.0.2")  # id 2
    net.join(fac, "quiet-otter-4", address="10.0.0.3")  # id 3, the malicious one
    net.join(fac, "quiet-otter", address="10.0.0.4")  # id 4: renamed to quiet-otter-4
    net.clock.advance(EPOCH_SECONDS + 1)
    fac.session.receive(Timer(ends_at=net.clock.now + 600, warning=None))


def test_s3_the_openers_own_handle_is_checked_like_everyone_elses() -> None:
    """_on_opened puts the opener's handle on the first roster unnormalised and unchecked.
    The TUI's OpenScreen checks check_handle(handle) (which NFKC-normalises) but passes the
    raw text on, so full-width letters from an IME pass the check and reach the roster; the
    lead's own first admission then refuses its own roster (handle_problem), and no one can
    ever join."""
    net = HostileNet()
    fac = net.open(handle="\uff43\uff41\uff4c\uff4d-heron")  # what OpenScreen lets through
    a = net.join(fac, "quiet-otter")
    assert a.of(ev.Admitted), "no one can join a circle whose opener typed a capital letter"


# --------------------------------------------------------------------------- 15: resume


def test_s10_a_resume_past_an_evicted_rekey_can_read_again() -> None:
    """Honest flow: a member drops for a while in a busy circle; the bounded resume buffer
    (512 frames by default, 16 here) evicts the rekey it missed. Rekeys must follow one step
    at a time, so it can never take a later one: every new message is held, and after 5 s it
    is told the *server* may be withholding a key. There is no way back short of rejoining
    (the old code took the next rekey)."""
    net = HostileNet(resume_buffer=16)
    fac, (a, b) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.drop(a)
    a.session.reconnecting()
    net.join(fac, "kind-hare", address="10.0.0.9")  # a rekey a misses
    for i in range(40):
        net.clock.advance(1)  # within the server's rate limit
        fac.session.post(f"busy {i}")
        net.pump()
    a = net.connect(a.session, a.address, a.events)
    assert a.last(ev.Resumed).lost
    fac.session.post("are you back?")
    net.pump()
    assert [m.content.body for m in a.of(ev.MessageReceived)][-1:] == ["are you back?"]


def test_s10_an_honest_lead_resume_raises_no_fork_alert() -> None:
    """Honest flow: the lead removes two members, its connection drops before the server's
    echoes of those rekeys and rosters reach it, and it resumes. It re-sends every unconfirmed
    rekey and roster (Session._on_server_hello); the server publishes them again, and each
    member, already at the second roster, calls the first one a fork ("Something the server
    sent would undo or split the circle's history")."""
    net = HostileNet()
    fac, (a, b, x) = circle_of(net, "quiet-otter", "gentle-lynx", "kind-hare")
    net.rewrite = lambda peer, f: [] if peer is fac and isinstance(f, Rekey | Roster) else [f]
    fac.session.moderate("remove", target=member_id(b))
    net.pump()
    fac.session.moderate("remove", target=member_id(x))
    net.pump()
    net.rewrite = None
    before = len(a.events)
    net.reconnect(fac)
    assert state(a) == state(fac)
    assert not alerts(a.events[before:]), "an honest resume shows members a security alert"


def test_s10_an_admission_the_server_refused_leaves_no_ghost_on_the_roster() -> None:
    """Honest race: a knocker gives up and leaves the waiting room just as the lead admits
    them. The lead adopts and streams the rekey and roster naming them; the server refuses
    the `admit` ("no longer waiting") and then says they left (rseq 0), which only drops the
    knock. They stay on every roster, and every later epoch key is sealed to their box key."""
    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    gone = net.join(fac, "kind-hare", address="10.0.0.9", admit=False)
    knock = fac.last(ev.KnockReceived)
    in_flight: list[Notice] = []

    def hold_left(peer: Peer, f: object) -> list[object]:
        if peer is fac and isinstance(f, Notice) and f.action == "left":
            in_flight.append(f)
            return []
        return [f]

    net.rewrite = hold_left  # type: ignore[assignment]
    net.drop(gone)
    fac.session.admit(knock.member)
    net.pump()
    assert fac.last(ev.ErrorReceived).ref == "admit"
    net.rewrite = None
    for f in in_flight:
        net.inject(fac, f)
    net.tick(60)
    assert "kind-hare" not in roles(a), "a person the server never admitted stays a member"


def test_s10_a_co_cannot_rekey_a_member_out_without_a_signed_removal() -> None:
    """Even before any hand-over, a co-facilitator's own rekey + roster that leave a member
    out are taken by everyone: the member's client shows `Removed` and wipes, others see only
    a roster change, no signed `remove` exists, and the server still seats the member."""
    net = HostileNet()
    fac, (co, b, c) = circle_of(net, "quiet-otter", "gentle-lynx", "kind-hare")
    signer = _delegate(net, fac, co)
    _co_leaves_out(net, co, signer, c, b)
    assert not b.of(ev.Removed), "a co removed a member with no signed removal"


def test_s10_a_withheld_handover_roster_does_not_crash_the_new_leads_receive() -> None:
    """Hostile server alone: it passes the new lead the `handover` notice but not the roster
    naming it lead. The new lead's Facilitation then cannot adopt its own periodic rekey; the
    ForkError comes out of tick(), which receive() calls outside its try, so once the epoch
    is due every frame the server sends crashes the client's read loop."""
    from circle_client.facilitation import EPOCH_SECONDS
    from protocol.frames import Timer

    net = HostileNet()
    fac, (a, w) = circle_of(net, "quiet-otter", "gentle-lynx")
    net.rewrite = lambda peer, f: [] if peer is w and isinstance(f, Roster) else [f]
    fac.session.moderate("handover", target=member_id(w))
    net.pump()
    # W does not take the lead on the notice alone: its roster does not name it lead yet.
    assert w.session.lead is None and alerts(w.events)
    net.clock.advance(EPOCH_SECONDS + 1)
    w.session.receive(Timer(ends_at=net.clock.now + 600, warning=None))  # and does not crash


def test_s10_held_joined_notices_are_bounded() -> None:
    """`joined` notices for someone not (yet) on the roster wait in Session._held, with no
    bound until the next roster arrives: the server can grow it without limit (the pending
    frame queue stops at PENDING_LIMIT)."""
    from circle_client.inbound import PENDING_LIMIT
    from tests.client.test_attacks import forged

    net = HostileNet()
    fac, (a,) = circle_of(net, "quiet-otter")
    for n in range(PENDING_LIMIT * 4):
        a.session.receive(forged(net, "joined", 1000 + n))
    assert len(a.session._held) <= PENDING_LIMIT
