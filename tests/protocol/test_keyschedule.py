"""The key-schedule modules (PROTOCOL.md 9): suites, hybrid KEM, epoch chain, ratchets.

Unit tests, known-answer vectors, tamper tests and Hypothesis round-trips. The security
properties (forward secrecy, post-compromise, removal, X25519-only break) are in
``test_keyschedule_properties.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import crypto, kem, pq, ratchet
from protocol import keyschedule as ks
from protocol.crypto import SigningKeys
from protocol.errors import (
    CryptoError,
    EpochError,
    ForkError,
    RemoteProtocolError,
    ReplayError,
    TamperedError,
)
from protocol.kem import EpochKeyPair, Suite
from tests.vectors.generate import DeterministicRandom

VECTORS = Path(__file__).parent.parent / "vectors"
CIRCLE = bytes(range(16))
SUITE = Suite.X25519_MLKEM768


def flips(blob: bytes) -> list[bytes]:
    """The blob with one bit flipped at its start, middle and end."""
    out = []
    for i in (0, len(blob) // 2, len(blob) - 1):
        b = bytearray(blob)
        b[i] ^= 0x01
        out.append(bytes(b))
    return out


# --------------------------------------------------------------------------- suites


def test_suite_bytes_and_default() -> None:
    assert kem.DEFAULT_SUITE is Suite.X25519_MLKEM768
    assert kem.suite_byte(Suite.X25519) == b"\x01"
    assert kem.suite_byte(Suite.X25519_MLKEM768) == b"\x02"


def test_a_weaker_suite_than_the_invites_is_refused() -> None:
    assert kem.check_suite(Suite.X25519, 2) is Suite.X25519_MLKEM768
    assert kem.check_suite(Suite.X25519, 1) is Suite.X25519
    with pytest.raises(kem.SuiteError, match="weaker cipher suite"):
        kem.check_suite(Suite.X25519_MLKEM768, 1)
    with pytest.raises(kem.SuiteError, match="does not know"):
        kem.check_suite(Suite.X25519, 3)


def test_ml_kem_is_available_here_with_the_documented_sizes() -> None:
    assert pq.available()
    seed = bytes(64)
    public = pq.public_from_seed(seed)
    assert len(public) == pq.PUBLIC_BYTES == 1184
    shared, ct = pq.encapsulate(public)
    assert len(ct) == pq.CIPHERTEXT_BYTES == 1088
    assert pq.decapsulate(seed, ct) == shared


def test_without_ml_kem_everything_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pq, "_MLKEM", None)
    assert not pq.available()
    for call in (
        lambda: pq.public_from_seed(bytes(64)),
        lambda: pq.encapsulate(bytes(1184)),
        lambda: pq.decapsulate(bytes(64), bytes(1088)),
        lambda: kem.check_suite(Suite.X25519, 2),
        lambda: EpochKeyPair.generate(1, hybrid=True),
    ):
        with pytest.raises(pq.PostQuantumUnavailableError, match="cryptography 48 or newer"):
            call()
    # The classic suite still works; it is never chosen silently in place of suite 2.
    assert EpochKeyPair.generate(1, hybrid=False).public.mlkem == b""


def test_ml_kem_refuses_malformed_inputs() -> None:
    with pytest.raises(TamperedError):
        pq.encapsulate(bytes(100))
    with pytest.raises(TamperedError):
        pq.encapsulate(b"\xff" * 1184)  # coefficients out of range
    with pytest.raises(TamperedError):
        pq.decapsulate(bytes(64), bytes(1087))
    with pytest.raises(CryptoError):
        pq.public_from_seed(bytes(32))


# --------------------------------------------------------------------------- hybrid KEM


@settings(max_examples=25, deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32),
    member=st.integers(1, 2**31 - 1),
    epoch=st.integers(0, 2**31 - 1),
    hybrid=st.booleans(),
)
def test_sealed_commit_secrets_round_trip(
    secret: bytes, member: int, epoch: int, hybrid: bool
) -> None:
    keys = EpochKeyPair.generate(epoch, hybrid=True)
    ad = kem.commit_ad(CIRCLE, member, epoch, SUITE)
    sealed = kem.seal_to_epoch_key(keys.public, secret, ad, hybrid)
    assert len(sealed) == kem.sealed_size(32, hybrid)
    assert keys.open(sealed, ad) == secret


@pytest.mark.parametrize("hybrid", [False, True])
def test_tampered_sealed_commit_secrets_are_refused(hybrid: bool) -> None:
    keys = EpochKeyPair.generate(3, hybrid=True)
    ad = kem.commit_ad(CIRCLE, 2, 3, SUITE)
    sealed = kem.seal_to_epoch_key(keys.public, bytes(32), ad, hybrid)
    for bad in flips(sealed):
        with pytest.raises(TamperedError):
            keys.open(bad, ad)
    with pytest.raises(TamperedError):
        keys.open(sealed[:-1], ad)
    for other_ad in (
        kem.commit_ad(CIRCLE, 3, 3, SUITE),
        kem.commit_ad(CIRCLE, 2, 4, SUITE),
        kem.commit_ad(CIRCLE, 2, 3, Suite.X25519),
        kem.commit_ad(bytes(16), 2, 3, SUITE),
    ):
        with pytest.raises(TamperedError):
            keys.open(sealed, other_ad)
    with pytest.raises(TamperedError):
        EpochKeyPair.generate(3, hybrid=True).open(sealed, ad)


def test_a_hybrid_entry_cannot_be_relabelled_classic() -> None:
    keys = EpochKeyPair.generate(1, hybrid=True)
    ad = kem.commit_ad(CIRCLE, 2, 1, SUITE)
    sealed = kem.seal_to_epoch_key(keys.public, bytes(32), ad, hybrid=True)
    stripped = b"\x01" + sealed[1:33] + sealed[33 + pq.CIPHERTEXT_BYTES :]
    with pytest.raises(TamperedError):
        keys.open(stripped, ad)
    with pytest.raises(TamperedError, match="unknown kind"):
        keys.open(b"\x03" + sealed[1:], ad)


def test_hybrid_sealing_needs_a_post_quantum_key() -> None:
    classic = EpochKeyPair.generate(1, hybrid=False)
    with pytest.raises(CryptoError, match="no post-quantum key"):
        kem.seal_to_epoch_key(classic.public, bytes(32), b"", hybrid=True)
    hybrid = EpochKeyPair.generate(1, hybrid=True)
    sealed = kem.seal_to_epoch_key(hybrid.public, bytes(32), b"", hybrid=True)
    with pytest.raises(TamperedError):
        classic.open(sealed, b"")


def test_epoch_keys_forget_and_never_print_secrets() -> None:
    keys = EpochKeyPair.generate(1, hybrid=True)
    secret = keys.x25519_secret()
    assert secret.hex() not in repr(keys)
    sealed = kem.seal_to_epoch_key(keys.public, bytes(32), b"", hybrid=True)
    keys.wipe()
    assert keys.wiped
    with pytest.raises(CryptoError, match="forgotten"):
        keys.open(sealed, b"")


def test_key_updates_are_signed_and_bound() -> None:
    signer = SigningKeys.generate()
    keys = EpochKeyPair.generate(4, hybrid=True)
    update = kem.sign_key_update(signer, CIRCLE, 7, SUITE, keys)
    assert kem.verify_key_update(signer.public, update, CIRCLE, 4, SUITE) == keys.public
    with pytest.raises(TamperedError):
        kem.verify_key_update(SigningKeys.generate().public, update, CIRCLE, 4, SUITE)
    with pytest.raises(TamperedError):
        kem.verify_key_update(signer.public, update, CIRCLE, 5, SUITE)
    swapped = kem.KeyUpdate(
        CIRCLE, 7, 4, 2, EpochKeyPair.generate(4, hybrid=True).public, update.sig
    )
    with pytest.raises(TamperedError):
        kem.verify_key_update(signer.public, swapped, CIRCLE, 4, SUITE)
    # Suite 2 key updates always carry ML-KEM; suite 1 ones never do.
    classic_keys = EpochKeyPair.for_suite(4, Suite.X25519)
    assert not classic_keys.public.hybrid and EpochKeyPair.for_suite(4, SUITE).public.hybrid
    stripped = kem.sign_key_update(signer, CIRCLE, 7, SUITE, classic_keys)
    with pytest.raises(TamperedError, match="cipher suite needs"):
        kem.verify_key_update(signer.public, stripped, CIRCLE, 4, SUITE)
    classic = kem.sign_key_update(signer, CIRCLE, 7, Suite.X25519, classic_keys)
    kem.verify_key_update(signer.public, classic, CIRCLE, 4, Suite.X25519)
    with pytest.raises(TamperedError, match="epoch or suite"):
        kem.verify_key_update(signer.public, update, CIRCLE, 4, Suite.X25519)


# --------------------------------------------------------------------------- epoch chain


def test_epoch_transcript_covers_every_field() -> None:
    keys = [EpochKeyPair.generate(0, hybrid=False) for _ in range(3)]
    entries = [(i + 1, 0, k.public.digest()) for i, k in enumerate(keys)]
    commit = ks.commit_digest(entries)
    assert ks.commit_digest(entries[::-1]) == commit  # member order, whatever the input order
    roster = bytes([9]) * 32
    base = ks.epoch_transcript(ks.GENESIS, CIRCLE, SUITE, 1, roster, commit)
    variants = [
        ks.epoch_transcript(bytes([1]) * 32, CIRCLE, SUITE, 1, roster, commit),
        ks.epoch_transcript(ks.GENESIS, bytes(16), SUITE, 1, roster, commit),
        ks.epoch_transcript(ks.GENESIS, CIRCLE, Suite.X25519, 1, roster, commit),
        ks.epoch_transcript(ks.GENESIS, CIRCLE, SUITE, 2, roster, commit),
        ks.epoch_transcript(ks.GENESIS, CIRCLE, SUITE, 1, bytes([8]) * 32, commit),
        ks.epoch_transcript(ks.GENESIS, CIRCLE, SUITE, 1, roster, ks.commit_digest(entries[:2])),
        ks.epoch_transcript(
            ks.GENESIS, CIRCLE, SUITE, 1, roster, ks.commit_digest([*entries[:2], (3, 1, b"x")])
        ),
        ks.epoch_transcript(
            ks.GENESIS, CIRCLE, SUITE, 1, roster, ks.commit_digest([*entries[:2], (4, 0, b"x")])
        ),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_epoch_chain_welcome_and_advance_agree() -> None:
    th0, th1 = bytes([1]) * 32, bytes([2]) * 32
    c0, c1 = bytes([3]) * 32, bytes([4]) * 32
    lead = ks.EpochSecrets.first(c0, SUITE, CIRCLE, th0)
    joiner = lead.joiner_for_next(c1, th1)
    nxt = lead.advance(c1, th1)
    welcomed = ks.EpochSecrets.from_welcome(joiner, SUITE, CIRCLE, 1, th1)
    assert nxt.authenticator == welcomed.authenticator
    assert nxt.roster_key() == welcomed.roster_key()
    welcomed.verify_confirmation(nxt.confirmation_tag())
    # The init secret of epoch 0 is gone once epoch 1 exists.
    with pytest.raises(EpochError, match="forgotten"):
        lead.advance(c1, th1)
    # A different transcript or commit gives a different epoch, and the tag shows the fork.
    other = ks.EpochSecrets.first(c0, SUITE, CIRCLE, th0).advance(c1, bytes([9]) * 32)
    assert other.authenticator != nxt.authenticator
    with pytest.raises(ForkError, match="fingerprint"):
        other.verify_confirmation(nxt.confirmation_tag())


def test_epoch_secrets_wipe_and_repr() -> None:
    secrets = ks.EpochSecrets.first(bytes(32), SUITE, CIRCLE, ks.GENESIS)
    held = [bytes(b) for b in secrets.secret_buffers()]
    assert all(h.hex() not in repr(secrets) for h in held)
    secrets.wipe()
    assert secrets.wiped
    with pytest.raises(EpochError):
        secrets.roster_key()
    with pytest.raises(CryptoError):
        ks.EpochSecrets.first(bytes(31), SUITE, CIRCLE, ks.GENESIS)


def test_authenticator_digits_show_the_epoch() -> None:
    digits = ks.authenticator_digits(bytes(range(32)), 7)
    assert digits.startswith("epoch 7 · ")
    groups = digits.split(" · ")[1].split(" ")
    assert len(groups) == 5 and all(len(g) == 4 and g.isdigit() for g in groups)


def test_epoch_limits_and_pq_cadence() -> None:
    limits = ks.EpochLimits()
    assert (limits.max_messages, limits.max_seconds) == (1000, 900)
    assert not limits.due(999, 0.0, 899.0)
    assert limits.due(1000, 0.0, 1.0)
    assert limits.due(0, 0.0, 900.0)
    assert ks.needs_pq_step(SUITE, 0, None, False)
    assert ks.needs_pq_step(SUITE, 2, 1, True)
    assert not ks.needs_pq_step(SUITE, 4, 1, False)
    assert ks.needs_pq_step(SUITE, 5, 1, False)
    assert not ks.needs_pq_step(Suite.X25519, 5, None, True)


def test_key_schedule_keeps_one_previous_epoch() -> None:
    schedule = ks.KeySchedule(
        1, ks.EpochSecrets.first(bytes(32), SUITE, CIRCLE, ks.GENESIS), [1, 2]
    )
    old = schedule.current
    for epoch in range(1, 4):
        schedule.advance(bytes([epoch]) * 32, bytes([epoch]) * 32, [1, 2])
    assert schedule.epochs == (2, 3)
    assert old.wiped
    with pytest.raises(EpochError):
        schedule.ratchets(1)
    schedule.wipe()
    assert schedule.current.wiped


# --------------------------------------------------------------------------- ratchets


def ratchets(own: int = 1) -> ratchet.EpochRatchets:
    return ratchet.EpochRatchets(bytes([7]) * 32, 0, own, [1, 2, 3])


def test_sender_and_receiver_derive_the_same_keys_in_any_order() -> None:
    alice, bob = ratchets(1), ratchets(2)
    sent = [alice.next_send() for _ in range(6)]
    assert [s for s, _ in sent] == [1, 2, 3, 4, 5, 6]
    assert len({k for _, k in sent}) == 6
    for seq in (2, 1, 5, 3, 6, 4):
        assert bob.key_for(1, seq) == dict(sent)[seq]
        assert bob.consume(1, seq) == []
    assert bob.skipped(1) == []


def test_used_keys_are_gone_and_replays_refused() -> None:
    bob = ratchets(2)
    bob.consume(1, 1)
    bob.consume(1, 3)
    assert bob.skipped(1) == [2]
    for seq in (1, 3):
        with pytest.raises(ReplayError):
            bob.key_for(1, seq)
        with pytest.raises(ReplayError):
            bob.consume(1, seq)
    bob.consume(1, 2)
    with pytest.raises(ReplayError):
        bob.consume(1, 2)


def test_peeking_does_not_burn_a_key() -> None:
    """A forged message with a future number must not delete the genuine message's key."""
    alice, bob = ratchets(1), ratchets(2)
    sent = dict(alice.next_send() for _ in range(5))
    bob.key_for(1, 5)  # forged: its signature fails, so it is never consumed
    assert bob.key_for(1, 1) == sent[1]
    bob.consume(1, 5)
    assert bob.key_for(1, 5 - 1) == sent[4]


def test_jumps_and_unknown_senders_are_refused() -> None:
    bob = ratchets(2)
    with pytest.raises(RemoteProtocolError, match="too far"):
        bob.key_for(1, ratchet.MAX_FORWARD_JUMP + 1)
    with pytest.raises(RemoteProtocolError, match="too far"):
        bob.consume(1, ratchet.MAX_FORWARD_JUMP + 1)
    bob.key_for(1, ratchet.MAX_FORWARD_JUMP)
    with pytest.raises(RemoteProtocolError, match="no chain"):
        bob.key_for(9, 1)
    with pytest.raises(RemoteProtocolError):
        bob.key_for(1, 0)


def test_skipped_keys_are_capped_oldest_first() -> None:
    bob = ratchets(3)
    bob.consume(1, 601)  # skips 1..600
    evicted = bob.consume(2, 502)  # skips 1..501: 1,101 in all, so 101 go
    assert evicted == [(1, s) for s in range(1, 102)]
    assert len(bob.skipped(1)) + len(bob.skipped(2)) == ratchet.MAX_SKIPPED_KEYS
    with pytest.raises(ReplayError):
        bob.key_for(1, 50)
    bob.key_for(1, 102)


def test_a_sender_stops_at_the_chain_cap() -> None:
    alice = ratchets(1)
    for _ in range(ratchet.MAX_CHAIN_LENGTH):
        alice.next_send()
    with pytest.raises(CryptoError, match="rekey"):
        alice.next_send()


def test_wiped_ratchets_hold_no_key_material() -> None:
    bob = ratchets(2)
    bob.consume(1, 4)
    bob.wipe()
    assert all(not any(b) for b in bob.secret_buffers())
    assert "07" * 32 not in repr(bob)
    with pytest.raises(CryptoError):
        bob.key_for(1, 5)


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(1, 13))))
def test_any_delivery_order_opens_every_message_once(order: list[int]) -> None:
    alice, bob = ratchets(1), ratchets(2)
    sent = dict(alice.next_send() for _ in range(12))
    for seq in order:
        assert bob.key_for(1, seq) == sent[seq]
        bob.consume(1, seq)
    assert bob.skipped(1) == []
    for seq in order:
        with pytest.raises(ReplayError):
            bob.key_for(1, seq)


# --------------------------------------------------------------------------- vectors


def load_vectors() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / "keyschedule.json").read_text())
    return data


def test_keyschedule_vectors_chain_and_ratchets() -> None:
    """Recompute the chain from the stored commit secrets and transcript hashes alone."""
    chain = [v for v in load_vectors() if "epoch" in v]
    circle_id = bytes.fromhex(chain[0]["circle_id"])
    secrets: ks.EpochSecrets | None = None
    for v in chain:
        commit, th = bytes.fromhex(v["commit_secret"]), bytes.fromhex(v["transcript_hash"])
        if secrets is None:
            secrets = ks.EpochSecrets.first(commit, SUITE, circle_id, th)
        else:
            secrets = secrets.advance(commit, th)
        welcomed = ks.EpochSecrets.from_welcome(
            bytes.fromhex(v["joiner_secret"]), SUITE, circle_id, v["epoch"], th
        )
        assert welcomed.authenticator.hex() == v["authenticator"] == secrets.authenticator.hex()
        assert secrets.roster_key().hex() == v["roster_key"]
        assert secrets.confirmation_tag().hex() == v["confirmation_tag"]
        assert secrets.digits() == v["digits"]
        bob = secrets.ratchets(3, [1, 2, 3])
        for sender, keys in v["message_keys"].items():
            for seq, key in enumerate(keys, start=1):
                assert bob.key_for(int(sender), seq).hex() == key
        welcome = ks.welcome_key(bytes.fromhex(v["joiner_secret"]), circle_id, v["epoch"])
        assert welcome.hex() == v["welcome_key"]


def test_keyschedule_vectors_sealed_entries_open() -> None:
    (v,) = [v for v in load_vectors() if v.get("sealed_commit")]
    secret, public = crypto.x25519_keypair(bytes.fromhex(v["x25519_seed"]))
    seed = bytearray(bytes.fromhex(v["mlkem_seed"]))
    recipient = kem.EpochPublicKey(public, pq.public_from_seed(seed))
    keys = EpochKeyPair(5, recipient, bytearray(secret), seed)
    ad = bytes.fromhex(v["ad"])
    for name in ("hybrid", "classic"):
        assert keys.open(bytes.fromhex(v[name]), ad).hex() == v["secret"]
    ct_m = bytes.fromhex(v["hybrid"])[33 : 33 + pq.CIPHERTEXT_BYTES]
    assert pq.decapsulate(seed, ct_m).hex() == v["mlkem_shared"]


def test_keyschedule_vector_generation_is_deterministic() -> None:
    rng_a, rng_b = DeterministicRandom(b"x"), DeterministicRandom(b"x")
    a = EpochKeyPair.generate(0, hybrid=True, rng=rng_a)
    b = EpochKeyPair.generate(0, hybrid=True, rng=rng_b)
    assert a.public == b.public


# --------------------------------------------------------------------------- more edges


def test_kdf_is_derive_key_with_the_label_encoded_once() -> None:
    key = bytes(range(32))
    for label, ctx, size in (("ks:init", b"", 32), ("kem:seal-nonce", b"\x02", 24)):
        assert crypto.kdf(key, crypto.kdf_label(label), ctx, size) == crypto.derive_key(
            key, label, ctx, size
        )
    with pytest.raises(CryptoError):
        crypto.kdf(bytes(8), crypto.kdf_label("x"))


def test_kdf_without_the_cffi_handle_gives_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    key, label = bytes(range(32)), crypto.kdf_label("ks:chain-next")
    fast = crypto.kdf(key, label, b"ctx")
    monkeypatch.setattr(crypto, "_lib", None)
    assert crypto.kdf(key, label, b"ctx") == fast


def test_x25519_refuses_low_order_points() -> None:
    secret, _ = crypto.x25519_keypair(bytes(32))
    with pytest.raises(TamperedError):
        crypto.x25519_shared(secret, bytes(32))
    with pytest.raises(TamperedError):
        crypto.x25519_shared(secret, bytes(31))


def test_a_skipped_post_quantum_step_is_refused_by_the_member() -> None:
    keys = EpochKeyPair.generate(2, hybrid=True)
    ad = kem.commit_ad(CIRCLE, 2, 2, SUITE)
    classic = kem.seal_to_epoch_key(keys.public, bytes(32), ad, hybrid=False)
    assert keys.open(classic, ad) == bytes(32)
    with pytest.raises(kem.SuiteError, match="post-quantum part"):
        keys.open(classic, ad, expect_hybrid=True)
    hybrid = kem.seal_to_epoch_key(keys.public, bytes(32), ad, hybrid=True)
    assert keys.open(hybrid, ad, expect_hybrid=True) == bytes(32)


def test_seal_commit_seals_to_each_remaining_member_in_order() -> None:
    keys = {m: EpochKeyPair.for_suite(3, SUITE) for m in (5, 2, 9)}
    secret = bytes([4]) * 32
    entries = kem.seal_commit(
        {m: k.public for m, k in keys.items()}, secret, CIRCLE, 3, SUITE, hybrid=True
    )
    assert [m for m, _ in entries] == [2, 5, 9]
    for m, sealed in entries:
        assert keys[m].open(sealed, kem.commit_ad(CIRCLE, m, 3, SUITE), True) == secret
    with pytest.raises(kem.SuiteError):
        kem.seal_commit({}, secret, CIRCLE, 3, Suite.X25519, hybrid=True)
    with pytest.raises(CryptoError):
        kem.seal_commit({}, bytes(31), CIRCLE, 3, SUITE, hybrid=False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1300))
def test_garbage_sealed_entries_raise_only_documented_errors(blob: bytes) -> None:
    keys = _FUZZ_KEYS
    for candidate in (blob, b"\x01" + blob, b"\x02" + blob):
        try:
            keys.open(candidate, b"ad")
        except TamperedError:
            pass
        else:  # pragma: no cover - would be a forgery
            raise AssertionError("garbage opened")


_FUZZ_KEYS = EpochKeyPair.generate(1, hybrid=True, rng=DeterministicRandom(b"fuzz"))


def test_a_chain_never_returns_a_past_key() -> None:
    chain = ratchet.Chain(1, bytes([1]) * 32)
    chain.step()
    with pytest.raises(ReplayError):
        chain.peek(1)


def test_a_gap_larger_than_the_cap_keeps_only_the_newest_keys() -> None:
    alice, bob = ratchets(1), ratchets(2)
    sent = dict(alice.next_send() for _ in range(1500))
    evicted = bob.consume(1, 1500)
    assert evicted == [(1, s) for s in range(1, 500)]
    assert bob.skipped(1) == list(range(500, 1500))
    assert bob.key_for(1, 500) == sent[500]
    with pytest.raises(ReplayError):
        bob.key_for(1, 499)


@settings(max_examples=20, deadline=None)
@given(hybrid=st.booleans(), seed=st.binary(min_size=32, max_size=32))
def test_hybrid_kem_encapsulate_decapsulate_round_trip(hybrid: bool, seed: bytes) -> None:
    keys = EpochKeyPair.generate(1, hybrid=True, rng=DeterministicRandom(seed))
    shared, ciphertext = kem.encapsulate(keys.public, hybrid)
    assert len(ciphertext) == (1 + 32 + 1088 if hybrid else 33)
    assert keys.decapsulate(ciphertext) == shared
    other = EpochKeyPair.generate(1, hybrid=True)
    assert other.decapsulate(ciphertext) != shared
    for bad in flips(ciphertext)[1:]:  # a flipped kind byte changes the length check
        assert keys.decapsulate(bad) != shared
    with pytest.raises(TamperedError):
        keys.decapsulate(ciphertext[:-1])
    with pytest.raises(TamperedError):
        keys.decapsulate(b"")


def test_interleaved_look_ups_still_consume_the_right_keys() -> None:
    """key_for remembers only the last look-up at a chain's head; any other order still works."""
    one, two, bob = ratchets(1), ratchets(3), ratchets(2)
    from_one = dict(one.next_send() for _ in range(3))
    from_three = dict(two.next_send() for _ in range(3))
    assert bob.key_for(1, 1) == from_one[1]
    assert bob.key_for(3, 1) == from_three[1]  # replaces the remembered look-up
    bob.consume(1, 1)
    bob.consume(3, 1)
    assert bob.key_for(1, 2) == from_one[2]
    bob.consume(3, 2)  # consumed without a look-up of its own
    bob.consume(1, 2)
    assert bob.key_for(1, 3) == from_one[3] and bob.key_for(3, 3) == from_three[3]


def test_key_update_vector_verifies() -> None:
    """A key update rebuilt from the stored seeds verifies under the stored signature."""
    (v,) = [v for v in load_vectors() if v.get("key_update")]
    first = load_vectors()[0]
    circle_id = bytes.fromhex(first["circle_id"])
    sign_key = bytes.fromhex(first["sign_keys"][1])
    _, x_public = crypto.x25519_keypair(bytes.fromhex(v["x25519_seed"]))
    public = kem.EpochPublicKey(x_public, pq.public_from_seed(bytes.fromhex(v["mlkem_seed"])))
    assert public.x25519.hex() == v["x25519_public"]
    update = kem.KeyUpdate(
        circle_id, v["member"], v["key_epoch"], int(SUITE), public, bytes.fromhex(v["sig"])
    )
    assert kem.verify_key_update(sign_key, update, circle_id, v["key_epoch"], SUITE) == public
    wrong = dataclasses.replace(update, epoch=v["key_epoch"] + 1)
    with pytest.raises(TamperedError):
        kem.verify_key_update(sign_key, wrong, circle_id, v["key_epoch"] + 1, SUITE)
