"""Group scenarios over the recording relay (S1-S6): what the server sees, and what it cannot do."""

from __future__ import annotations

import dataclasses
import random

import pytest

from protocol import crypto, kem, limits
from protocol.content import PostContent, ReactContent
from protocol.crypto import MemberKeys
from protocol.errors import (
    EpochError,
    ForkError,
    ReplayError,
    TamperedError,
    WrongFacilitatorError,
)
from protocol.frames import CommitEntry, Rekey, Relayed
from protocol.group import CircleCrypto, FacilitatorSigner, _rekey_parts

from .harness import Group

BODIES = [
    "I have not slept properly since the funeral and I keep pretending I am fine",
    "My sister does not know I have been drinking again, only you do",
    "Thank you for listening, it helps more than I expected it would",
]


@pytest.fixture
def group() -> Group:
    g = Group()
    for handle in ("quiet-otter", "gentle-lynx", "brave-finch"):
        g.join(handle)
    return g


def members(g: Group) -> list:
    return [g.parties[m] for m in sorted(g.parties)]


def test_everyone_reads_everyone(group: Group) -> None:
    sender = members(group)[1]
    relayed = group.post(sender, BODIES[0])
    group.deliver(relayed)
    for party in members(group):
        assert party.inbox[-1].content.body == BODIES[0]
        assert party.inbox[-1].sender == sender.member


def test_wire_holds_no_body_or_handle(group: Group) -> None:
    """S1: no 8-byte run of any body or handle appears in what the server relayed."""
    for i, body in enumerate(BODIES):
        group.deliver(group.post(members(group)[i % 4], body))
    wire = group.relay.recorded()
    secrets = BODIES + [p.handle for p in members(group)] + [group.rules]
    for text in secrets:
        raw = text.encode()
        assert len(raw) >= 8
        for start in range(len(raw) - 7):
            assert raw[start : start + 8] not in wire, f"{text[:12]!r}... leaked"


def test_ciphertexts_are_padded_to_buckets(group: Group) -> None:
    sizes = {len(group.post(members(group)[1], "x" * n).env.ct) for n in (1, 50, 200)}
    assert sizes == {256 + crypto.AEAD_OVERHEAD}


def test_removed_member_cannot_read_after_rekey(group: Group) -> None:
    """S5: the removed member gets no key for the new epoch, and old keys do not open it."""
    fac, a, b, removed = members(group)
    old_key = removed.circle.epoch_key(removed.circle.epoch)
    rekey, roster = group.remove(removed.member)  # the lead takes its own commit at once
    assert fac.circle.epoch == rekey.epoch
    for party in (a, b):
        assert party.circle.apply_rekey(rekey)
        assert party.circle.apply_roster(roster)
    assert removed.circle.apply_rekey(rekey) is False
    assert removed.circle.removed
    relayed = group.post(a, BODIES[1])
    group.deliver(relayed, to=[fac, b])
    assert b.inbox[-1].content.body == BODIES[1]
    with pytest.raises(EpochError):
        removed.circle.open(relayed)
    # Even holding every key it ever had, the ciphertext does not open.
    ad = crypto.message_ad(
        group.invite.circle_id, relayed.env.epoch, a.member, relayed.env.seq, "post"
    )
    with pytest.raises(TamperedError):
        crypto.aead_open(
            crypto.epoch_subkey(old_key, "message"), relayed.env.ct, ad, relayed.env.nonce, "m"
        )


def test_welcome_signed_by_another_key_is_rejected(group: Group) -> None:
    """S2: a server cannot pose as the facilitator, with its own key or a forged root key."""
    impostor = FacilitatorSigner(group.invite.circle_id, MemberKeys.generate().sign)
    circle, _ = group.candidate(99)
    # Even from the lead's own state (every secret a welcome needs), another key's signature
    # is refused.
    _, _, forged = group.welcome_for(circle, impostor)
    with pytest.raises(WrongFacilitatorError):
        circle.accept_welcome(forged)
    assert circle.epoch == -1
    # A server that swaps in its own root key fails the invite fingerprint check.
    with pytest.raises(WrongFacilitatorError):
        CircleCrypto(
            group.invite.circle_id,
            99,
            MemberKeys.generate(),
            impostor.keys.public,
            group.invite.facilitator_fingerprint,
        )


def test_welcome_for_someone_else_is_rejected(group: Group) -> None:
    """A welcome made for one joiner opens for nobody else, even with the same member id."""
    other, _ = group.candidate(50)
    intended, _ = group.candidate(50)
    _, _, welcome = group.welcome_for(intended)
    with pytest.raises(TamperedError):
        other.accept_welcome(welcome)
    intended.accept_welcome(welcome)
    assert intended.epoch == group.lead.circle.epoch + 1


def test_member_cannot_pass_off_a_message_as_anothers(group: Group) -> None:
    """S3: relabelling the sender, or signing as someone else, is rejected."""
    fac, a, b, c = members(group)
    relayed = group.post(a, "this is really from a")
    forged = dataclasses.replace(relayed, sender=b.member)
    with pytest.raises(TamperedError):
        c.circle.open(forged)
    # b builds a reaction claiming to be a: encrypts under a's id but can only sign as b.
    key = crypto.epoch_subkey(b.circle.epoch_key(b.circle.epoch), "message")
    ad = crypto.message_ad(group.invite.circle_id, b.circle.epoch, a.member, 77, "react")
    content = ReactContent(
        target=(a.member, relayed.env.epoch, relayed.env.seq), reaction="same_here"
    )
    from protocol.codec import pack
    from protocol.frames import Envelope

    nonce, ct, sig = crypto.seal_message(key, b.keys.sign, ad, pack(content.to_map()))
    env = Envelope(epoch=b.circle.epoch, seq=77, nonce=nonce, ct=ct, sig=sig)
    with pytest.raises(TamperedError):
        c.circle.open(Relayed(kind="react", sender=a.member, rseq=5, env=env))
    # And the kind is bound too: a post relabelled as a reaction fails.
    with pytest.raises(TamperedError):
        c.circle.open(dataclasses.replace(relayed, kind="react"))


def test_replayed_message_is_delivered_once(group: Group) -> None:
    fac, a, b, c = members(group)
    relayed = group.post(a, "said once")
    assert b.circle.open(relayed).content.body == "said once"
    with pytest.raises(ReplayError):
        b.circle.open(relayed)
    with pytest.raises(ReplayError):
        b.circle.open(dataclasses.replace(relayed, rseq=relayed.rseq + 100))


def test_shuffled_messages_are_all_delivered_once(group: Group) -> None:
    fac, a, b, c = members(group)
    frames = [group.post(p, f"message {i} from {p.handle}") for i in range(10) for p in (a, b, fac)]
    shuffled = frames + frames[:7]  # with duplicates
    random.Random(7).shuffle(shuffled)
    delivered = []
    for frame in shuffled:
        try:
            delivered.append(c.circle.open(frame))
        except ReplayError:
            pass
    assert sorted(o.content.body for o in delivered) == sorted(
        f"message {i} from {p.handle}" for i in range(10) for p in (a, b, fac)
    )
    assert c.circle.open_gaps() == {}


def test_dropped_message_shows_as_gap(group: Group) -> None:
    fac, a, b, c = members(group)
    first, dropped, third = (group.post(a, f"part {i}") for i in range(3))
    c.circle.open(first)
    opened = c.circle.open(third)
    assert opened.new_gaps == (dropped.env.seq,)
    assert c.circle.open_gaps() == {(a.member, dropped.env.epoch): (dropped.env.seq,)}
    late = c.circle.open(dropped)
    assert late.filled_gap and c.circle.open_gaps() == {}


def test_fingerprints_match_and_detect_split_rosters(group: Group) -> None:
    """S4: everyone computes the same fingerprint; a server showing two rosters is caught."""
    prints = {p.circle.fingerprint() for p in members(group)}
    assert len(prints) == 1
    fac, a, b, c = members(group)
    # A new member joins; the relay withholds the roster update from c.
    newcomer, _ = group.candidate(42)
    rekey, roster, welcome = group.welcome_for(newcomer)
    group.apply((rekey, roster), [fac, a, b])
    newcomer.accept_welcome(welcome)
    assert newcomer.fingerprint() == a.circle.fingerprint() == b.circle.fingerprint()
    assert a.circle.fingerprint() != c.circle.fingerprint()


def test_stale_roster_cannot_roll_back(group: Group) -> None:
    """S10: a roster the member took, sent again, changes nothing (a lead's resume re-sends
    them); an older roster it never took is refused, and so is an older rekey."""
    fac, a, b, c = members(group)
    old_rekey, old_roster = group.rekey_all()
    group.apply((old_rekey, old_roster))
    taken = a.circle.roster_content
    assert taken is not None
    other = group.signer.roster(
        dataclasses.replace(taken, members=taken.members[:-1]),
        old_roster.epoch,
        a.circle.epoch_key(old_roster.epoch),
    )
    assert a.circle.apply_roster(old_roster) is False  # the same roster again
    group.apply(group.rekey_all())
    held = (a.circle.roster_version, a.circle.transcript_hash)
    assert a.circle.apply_roster(old_roster) is False  # still only a re-send
    with pytest.raises(ForkError):
        a.circle.apply_roster(other)
    with pytest.raises(ForkError):
        a.circle.apply_rekey(old_rekey)
    assert (a.circle.roster_version, a.circle.transcript_hash) == held


def test_only_the_lead_signs_rekeys_not_a_co_facilitator(group: Group) -> None:
    """5.7: a co-facilitator moderates but never signs the group's keys; a lead the root
    handed over to does, once a root-signed roster names it."""
    fac, a, b, c = members(group)
    co_cert = group.signer.delegate(a.member, a.keys.sign.public, "co")
    group.entries[a.member] = dataclasses.replace(group.entries[a.member], role="co")
    group.apply(group.rekey_all())
    co = FacilitatorSigner(group.invite.circle_id, a.keys.sign, cert=co_cert)
    bad, _ = group.rekey_all(signer=co, by=a)
    with pytest.raises(WrongFacilitatorError):
        b.circle.apply_rekey(bad)
    assert a.circle.epoch == b.circle.epoch  # not even its maker took it
    lead_cert = group.signer.delegate(c.member, c.keys.sign.public, "facilitator")
    group.entries[c.member] = dataclasses.replace(group.entries[c.member], role="facilitator")
    group.entries[fac.member] = dataclasses.replace(group.entries[fac.member], role="member")
    group.apply(group.rekey_all(), [b, c])  # the root hands over
    lead = FacilitatorSigner(group.invite.circle_id, c.keys.sign, cert=lead_cert)
    group.apply(group.rekey_all(signer=lead, by=c), [b])
    # A member who was never delegated cannot rekey, even with a copied certificate.
    rogue = FacilitatorSigner(group.invite.circle_id, a.keys.sign, cert=lead_cert)
    forged, _ = group.rekey_all(signer=rogue, by=c)
    with pytest.raises(WrongFacilitatorError):
        b.circle.apply_rekey(forged)


def test_old_epochs_are_forgotten(group: Group) -> None:
    fac, a, b, c = members(group)
    first_epoch = c.circle.epoch
    for _ in range(4):
        group.apply(group.rekey_all(), [c])
    assert first_epoch not in c.circle.held_epochs
    assert len(c.circle.held_epochs) == limits.EPOCH_RETENTION + 1


def test_rekeys_move_exactly_one_epoch_forward(group: Group) -> None:
    """S10: a rekey that skips ahead, or goes back, is refused and changes nothing."""
    fac, a, b, c = members(group)
    skipped, _ = group.rekey_all()
    far, _ = group.rekey_all()  # the relay withholds the first step
    held = c.circle.epoch
    with pytest.raises(ForkError):
        c.circle.apply_rekey(far)
    backwards = dataclasses.replace(skipped, epoch=max(held, 1))
    with pytest.raises(ForkError):
        c.circle.apply_rekey(backwards)
    assert c.circle.epoch == held


def test_sealing_wrong_content_type_is_a_local_error(group: Group) -> None:
    from protocol.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        group.facilitator.circle.seal(
            "react", PostContent(body="x", reply_to=None, warning=None, me=False)
        )


def _resigned(group: Group, rekey: Rekey, **changes: object) -> Rekey:
    """``rekey`` with ``changes``, signed again by the lead: what a dishonest lead could send."""
    lead = group.lead.circle
    forged = dataclasses.replace(rekey, **changes)  # type: ignore[arg-type]
    parts = _rekey_parts(
        lead.circle_id,
        lead.suite,
        forged.epoch,
        lead.transcript_hash,
        forged.roster,
        forged.tag,
        forged.keys,
    )
    return dataclasses.replace(forged, auth=group.signer._auth("rekey", *parts))


def test_a_rekey_whose_confirmation_tag_differs_is_a_fork(group: Group) -> None:
    """9.6: members who derive another epoch than the committer's refuse it, changing nothing."""
    fac, a, b, c = members(group)
    rekey, _, _ = group.signer.commit(fac.circle, group.roster_content(), {})
    held = (a.circle.epoch, a.circle.transcript_hash, a.circle.fingerprint())
    with pytest.raises(ForkError):
        a.circle.apply_rekey(_resigned(group, rekey, tag=bytes(32)))
    with pytest.raises(ForkError):  # the roster hash feeds the transcript, hence the tag
        a.circle.apply_rekey(_resigned(group, rekey, roster=bytes(32)))
    assert (a.circle.epoch, a.circle.transcript_hash, a.circle.fingerprint()) == held
    assert a.circle.apply_rekey(rekey)  # control


def test_a_removal_sealed_without_ml_kem_is_refused(group: Group) -> None:
    """9.4: a removal is a post-quantum step; entries sealed with X25519 alone are refused by
    every member that counts it as one, even when the lead signed them."""
    fac, a, b, c = members(group)
    lead = fac.circle
    del group.entries[c.member]
    roster = group.roster_content()
    rekey, _, _ = group.signer.commit(lead, roster, {})
    assert {e.sealed[0] for e in rekey.keys} == {kem.KIND_HYBRID}
    secret = crypto.system_random(32)
    recipients = {e.member: lead.key_for(e.member)[1] for e in rekey.keys}
    classic = kem.seal_commit(recipients, secret, lead.circle_id, rekey.epoch, lead.suite, False)
    ids = {e.member: e.key for e in rekey.keys}
    entries = tuple(CommitEntry(member=m, key=ids[m], sealed=box) for m, box in classic)
    with pytest.raises(kem.SuiteError):
        a.circle.apply_rekey(_resigned(group, rekey, keys=entries))
    assert a.circle.apply_rekey(rekey)  # control
