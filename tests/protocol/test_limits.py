"""Named limits hold: bodies that validate always seal, and the sequence-window caps bite."""

from __future__ import annotations

import pytest

from protocol import limits
from protocol.codec import pack
from protocol.content import KIND_CONTENT, PinContent, PostContent
from protocol.errors import (
    CryptoError,
    LocalProtocolError,
    RefusedRelayedError,
    RemoteProtocolError,
    ReplayError,
)
from protocol.frames import Envelope, Relayed
from protocol.group import SenderWindow

from .harness import Group, Party

WIDE = "\U0001f33f"  # four bytes of UTF-8, one character
BIGGEST_REF = (limits.MAX_SEQ, limits.MAX_SEQ, limits.MAX_SEQ)


def relayed(sender: Party, env: Envelope) -> Relayed:
    return Relayed(kind="post", sender=sender.member, rseq=1, env=env)


def biggest_post(char: str) -> PostContent:
    """The largest post that validates, built from ``char``."""
    body = char * (limits.MAX_BODY // len(char.encode()))
    return PostContent(body=body, reply_to=BIGGEST_REF, warning=WIDE * 80, me=True)


def test_max_body_counts_bytes_of_utf8_not_characters() -> None:
    PostContent(body="e" * limits.MAX_BODY, reply_to=None, warning=None, me=False)
    PostContent(body="é" * (limits.MAX_BODY // 2), reply_to=None, warning=None, me=False)
    for body in ("é" * 9000, "e" * (limits.MAX_BODY + 1), WIDE * (limits.MAX_BODY // 4 + 1)):
        assert len(body) <= 2 * limits.MAX_BODY
        with pytest.raises(LocalProtocolError):
            PostContent(body=body, reply_to=None, warning=None, me=False)


@pytest.mark.parametrize("char", ["e", "é", "✓", WIDE])
def test_every_valid_post_fits_the_largest_padding_bucket(char: str) -> None:
    group = Group()
    a = group.join("quiet-otter")
    b = group.join("gentle-lynx")
    content = biggest_post(char)
    assert len(pack(content.to_map())) < limits.PAD_BUCKETS[-1]
    env = a.circle.seal("post", content)
    opened = b.circle.open(relayed(a, env))
    assert opened.content == content


def test_every_valid_pin_fits_the_largest_padding_bucket() -> None:
    pin = PinContent(body=WIDE * 1000)
    assert len(pack(pin.to_map())) < limits.PAD_BUCKETS[-1]
    with pytest.raises(LocalProtocolError):
        PinContent(body="x" * 1001)
    assert set(KIND_CONTENT) == {"post", "react", "retract", "pin"}  # react/retract are tiny


def test_a_failed_seal_does_not_use_up_a_sequence_number() -> None:
    group = Group()
    a = group.join("quiet-otter")
    b = group.join("gentle-lynx")
    # Bypass validation to reach the one failure left in seal: a plaintext too big to pad.
    too_big = PostContent.trusted(
        body="é" * 9000, reply_to=None, warning=None, me=False, skipped=()
    )
    with pytest.raises(CryptoError):
        a.circle.seal("post", too_big)
    ok = PostContent(body="after the failure", reply_to=None, warning=None, me=False)
    env = a.circle.seal("post", ok)
    assert env.seq == 1
    opened = b.circle.open(relayed(a, env))
    assert opened.new_gaps == () and b.circle.open_gaps() == {}


# --------------------------------------------------------------------------- sequence caps


def test_sequence_jump_is_capped() -> None:
    window = SenderWindow()
    window.accept(1)
    with pytest.raises(RemoteProtocolError):
        window.accept(1 + limits.MAX_SEQ_JUMP + 1)
    assert window.highest == 1 and window.missing == set()  # a refused jump changes nothing
    new_gaps, filled = window.accept(1 + limits.MAX_SEQ_JUMP)  # exactly the cap is fine
    assert len(new_gaps) == limits.MAX_SEQ_JUMP - 1 and not filled
    assert window.highest == 1 + limits.MAX_SEQ_JUMP


def test_open_gaps_are_capped_oldest_forgotten_first() -> None:
    window = SenderWindow()
    top = limits.MAX_OPEN_GAPS + 11
    new_gaps, _ = window.accept(top)
    assert new_gaps == list(range(1, top))  # every gap is reported once...
    assert len(window.missing) == limits.MAX_OPEN_GAPS  # ...but only the newest are remembered
    assert min(window.missing) == top - limits.MAX_OPEN_GAPS
    with pytest.raises(ReplayError):  # a forgotten gap can no longer be filled
        window.accept(1)
    assert window.accept(top - 1) == ([], True)  # a remembered one can
    with pytest.raises(ReplayError):
        window.accept(top - 1)


def test_caps_hold_through_circle_crypto() -> None:
    group = Group()
    a = group.join("quiet-otter")
    b = group.join("gentle-lynx")
    chain = a.circle._ratchets[a.circle.epoch]  # a sender stepping its own ratchet ahead
    for _ in range(limits.MAX_SEQ_JUMP - 1):
        chain.next_send()
    near = a.circle.seal("post", PostContent(body="near", reply_to=None, warning=None, me=False))
    far = a.circle.seal("post", PostContent(body="far", reply_to=None, warning=None, me=False))
    assert (near.seq, far.seq) == (limits.MAX_SEQ_JUMP, limits.MAX_SEQ_JUMP + 1)
    with pytest.raises(RemoteProtocolError):
        b.circle.open(relayed(a, far))
    assert b.circle.open_gaps() == {}
    opened = b.circle.open(relayed(a, near))
    assert len(opened.new_gaps) == limits.MAX_SEQ_JUMP - 1
    gaps = b.circle.open_gaps()[(a.member, a.circle.epoch)]
    assert len(gaps) == limits.MAX_OPEN_GAPS and max(gaps) == limits.MAX_SEQ_JUMP - 1


def test_a_post_quantum_commit_to_a_full_circle_fits_one_frame() -> None:
    """50 seats (the suite-2 cap) all sealed with ML-KEM: rekey, roster and a welcome each fit
    the default frame (PROTOCOL.md 9.4)."""
    from protocol import crypto as c
    from protocol.content import RosterContent, RosterEntry
    from protocol.crypto import MemberKeys
    from protocol.frames import Admit, encode_frame
    from protocol.group import CircleCrypto, FacilitatorSigner
    from protocol.kem import KIND_HYBRID, EpochKeyPair, Suite

    keys = [MemberKeys.generate() for _ in range(limits.MAX_HYBRID_CAPACITY)]
    cid = bytes(16)
    entries = tuple(
        RosterEntry(
            member=i + 1,
            handle=f"member-{i:02d}-with-a-long-handle"[: limits.MAX_HANDLE],
            sign_key=k.sign.public,
            box_key=k.box.public,
            role="facilitator" if i == 0 else "member",
        )
        for i, k in enumerate(keys)
    )
    root = keys[0].sign.public
    lead = CircleCrypto(cid, 1, keys[0], root, c.fingerprint(root))
    lead.start(RosterContent(cid, 1, 0, bytes(32), entries[:1]))
    lead.key_update()
    for entry in entries[1:-1]:
        lead.note_knock_key(
            entry.member, 1, EpochKeyPair.for_suite(1, Suite.X25519_MLKEM768).public
        )
    joiner = EpochKeyPair.for_suite(0, Suite.X25519_MLKEM768).public
    roster = RosterContent(cid, 2, 1, lead.transcript_hash, entries)
    rekey, roster_frame, welcomes = FacilitatorSigner(cid, keys[0].sign).commit(
        lead, roster, {limits.MAX_HYBRID_CAPACITY: (0, joiner)}
    )
    assert len(rekey.keys) == limits.MAX_HYBRID_CAPACITY - 1
    assert {e.sealed[0] for e in rekey.keys} == {KIND_HYBRID}
    admit = Admit(member=limits.MAX_HYBRID_CAPACITY, welcome=welcomes[limits.MAX_HYBRID_CAPACITY])
    for frame in (rekey, roster_frame, admit):
        assert len(encode_frame(frame)) <= limits.MAX_FRAME_BYTES
    # The bound the server's config check uses holds, and the default frame meets it.
    assert len(encode_frame(rekey)) <= limits.hybrid_commit_frame_bytes(len(rekey.keys))
    assert limits.hybrid_commit_frame_bytes(limits.MAX_HYBRID_CAPACITY) <= limits.MAX_FRAME_BYTES
    assert len(encode_frame(rekey)) > limits.MAX_FRAME_BYTES * 0.8  # close to the limit: 9.9


def test_numbers_the_sender_says_were_refused_are_never_gaps() -> None:
    window = SenderWindow()
    window.accept(1)
    assert window.accept(5, refused={2, 4}) == ([3], False)  # only 3 is missing
    assert window.gaps() == (3,)
    with pytest.raises(RefusedRelayedError):  # the server relays a refused one after all
        window.accept(2)
    assert window.close([3]) == []  # a late word about 3: closed, no longer a gap
    assert window.gaps() == ()
    assert window.close([1]) == [1]  # 1 had arrived: the sender was told otherwise
    assert window.close([9]) == []  # not yet reached: nothing to say


def test_refused_numbers_take_no_room_among_open_gaps() -> None:
    window = SenderWindow()
    window.accept(1)
    window.accept(3)  # 2 is a real gap
    refused = set(range(4, 12))
    window.accept(12 + limits.MAX_OPEN_GAPS - 1, refused=refused)  # 255 more missing
    gaps = window.gaps()
    assert len(gaps) == limits.MAX_OPEN_GAPS and gaps[0] == 2  # the real gap is kept
    assert not refused & set(gaps)
