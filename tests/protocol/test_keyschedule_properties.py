"""Security properties of the key schedule (PROTOCOL.md 9.8), one attack test each.

A small simulated circle uses only the key-schedule modules: every epoch, each remaining member
draws fresh epoch keys, the facilitator seals a fresh commit secret to them, and everyone
advances. The attacker gets the public record (everything the server relays) plus whatever
the test hands it, and tries every key it holds on every sealed entry.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import crypto, kem, pq, ratchet
from protocol import keyschedule as ks
from protocol.errors import CryptoError, EpochError, ReplayError, TamperedError
from protocol.kem import EpochKeyPair, Suite

CIRCLE = bytes(range(16))


@dataclass
class Member:
    member: int
    keys: EpochKeyPair
    """The fresh keys announced for the next commit."""
    schedule: ks.KeySchedule | None = None


@dataclass
class Record:
    """What the server sees of one epoch."""

    epoch: int
    hybrid: bool
    transcript: bytes
    sealed: dict[int, bytes]
    public: dict[int, kem.EpochPublicKey]
    messages: list[tuple[int, int, bytes]] = field(default_factory=list)
    """(sender, seq, ciphertext) of messages sent in the epoch."""
    keys: list[bytes] = field(default_factory=list)
    """The message keys, for checking that no state still holds them (not public)."""


class Circle:
    """Facilitator 1 and members 2..n; the facilitator commits every epoch."""

    def __init__(self, n: int, suite: Suite = Suite.X25519_MLKEM768) -> None:
        self.suite = suite
        self.last_pq: int | None = None
        self.records: list[Record] = []
        self.x25519_secrets: list[tuple[bytes, bytes]] = []  # (secret, public) of every key
        self.authenticators: dict[int, bytes] = {}
        self.members = {m: Member(m, self._fresh(0)) for m in range(1, n + 1)}
        commit = crypto.system_random(32)
        th = self._transcript(ks.GENESIS, 0)
        lead = ks.EpochSecrets.first(commit, suite, CIRCLE, th)
        joiner = ks.joiner_secret(ks.GENESIS, commit, suite, CIRCLE, 0, th)
        sealed = self._seal(joiner, 0, hybrid=suite is Suite.X25519_MLKEM768, skip=1)
        self.last_pq = 0 if suite is Suite.X25519_MLKEM768 else None
        self.records.append(Record(0, self.last_pq == 0, th, sealed, self._publics()))
        self.authenticators[0] = lead.authenticator
        self.members[1].schedule = ks.KeySchedule(1, lead, self.members)
        self.members[1].keys = self._fresh(1)
        for m, mem in self.members.items():
            if m != 1:
                secret = mem.keys.open(sealed[m], kem.commit_ad(CIRCLE, m, 0, suite))
                mem.keys.wipe()
                first = ks.EpochSecrets.from_welcome(secret, suite, CIRCLE, 0, th)
                mem.schedule = ks.KeySchedule(m, first, self.members)
                mem.keys = self._fresh(1)

    @property
    def epoch(self) -> int:
        return self.records[-1].epoch

    def _fresh(self, epoch: int) -> EpochKeyPair:
        keys = EpochKeyPair.for_suite(epoch, self.suite)
        self.x25519_secrets.append((keys.x25519_secret(), keys.public.x25519))
        return keys

    def _publics(self) -> dict[int, kem.EpochPublicKey]:
        return {m: mem.keys.public for m, mem in self.members.items()}

    def _transcript(self, previous: bytes, epoch: int) -> bytes:
        commit = ks.commit_digest(
            (m, epoch, mem.keys.public.digest()) for m, mem in self.members.items()
        )
        roster = crypto.hash_bytes("test-roster", bytes([epoch % 256]))
        return ks.epoch_transcript(previous, CIRCLE, self.suite, epoch, roster, commit)

    def _seal(self, secret: bytes, epoch: int, hybrid: bool, skip: int) -> dict[int, bytes]:
        recipients = {m: mem.keys.public for m, mem in self.members.items() if m != skip}
        return dict(kem.seal_commit(recipients, secret, CIRCLE, epoch, self.suite, hybrid))

    def commit(self, remove: frozenset[int] = frozenset()) -> None:
        """The facilitator moves everyone (but ``remove``) to the next epoch."""
        epoch = self.epoch + 1
        for m in remove:
            self.members.pop(m)
        hybrid = ks.needs_pq_step(self.suite, epoch, self.last_pq, bool(remove))
        if hybrid:
            self.last_pq = epoch
        th = self._transcript(self.records[-1].transcript, epoch)
        commit = crypto.system_random(32)
        sealed = self._seal(commit, epoch, hybrid, skip=1)
        self.records.append(Record(epoch, hybrid, th, sealed, self._publics()))
        for m, mem in self.members.items():
            assert mem.schedule is not None
            if m == 1:
                secret = commit
            else:
                ad = kem.commit_ad(CIRCLE, m, epoch, self.suite)
                secret = mem.keys.open(sealed[m], ad, expect_hybrid=hybrid)
            mem.keys.wipe()  # used: forgotten (9.3)
            mem.schedule.advance(secret, th, self.members)
            mem.keys = self._fresh(epoch + 1)
        lead = self.members[1].schedule
        assert lead is not None
        self.authenticators[epoch] = lead.current.authenticator

    def talk(self, sender: int, count: int = 3) -> None:
        """``sender`` seals ``count`` messages in the current epoch; everyone else opens them."""
        schedule = self.members[sender].schedule
        assert schedule is not None
        for _ in range(count):
            seq, key = schedule.ratchets(self.epoch).next_send()
            nonce = bytes(24)
            ct = crypto.aead_seal(key, b"hello %d" % seq, b"", nonce)
            self.records[-1].messages.append((sender, seq, ct))
            self.records[-1].keys.append(key)
            for m, mem in self.members.items():
                if m != sender and mem.schedule is not None:
                    r = mem.schedule.ratchets(self.epoch)
                    crypto.aead_open(r.key_for(sender, seq), ct, b"", nonce, "message")
                    r.consume(sender, seq)

    def authenticator(self, epoch: int) -> bytes:
        return self.authenticators[epoch]


def try_open(keys: list[EpochKeyPair], record: Record, suite: Suite) -> bytes | None:
    """Every key the attacker holds against every sealed entry of the epoch."""
    for key in keys:
        for m, sealed in record.sealed.items():
            try:
                return key.open(sealed, kem.commit_ad(CIRCLE, m, record.epoch, suite))
            except (TamperedError, CryptoError):
                continue
    return None


# --------------------------------------------------------------------------- forward secrecy


@settings(max_examples=40, deadline=None)
@given(sent=st.integers(2, 40), data=st.data())
def test_forward_secrecy_a_ratchet_copied_at_message_i_derives_nothing_before_i(
    sent: int, data: st.DataObject
) -> None:
    """Property S11 (within an epoch): a copy of a receiver's chains after it opened messages
    1..i-1 holds no key for them, and stepping its chains forward never meets one."""
    i = data.draw(st.integers(2, sent))
    alice = ratchet.EpochRatchets(bytes([5]) * 32, 0, 1, [1, 2])
    bob = ratchet.EpochRatchets(bytes([5]) * 32, 0, 2, [1, 2])
    keys = dict(alice.next_send() for _ in range(sent))
    for seq in range(1, i):
        bob.consume(1, seq)
    stolen = copy.deepcopy(bob)
    earlier = {keys[s] for s in range(1, i)}
    held = {bytes(b) for b in stolen.secret_buffers()}
    assert not held & earlier
    for seq in range(1, i):
        with pytest.raises(ReplayError):
            stolen.key_for(1, seq)
    # Walking the stolen chain as far as the cap allows yields only later keys.
    reachable = {stolen.key_for(1, s) for s in range(i, i + 50)}
    assert not reachable & earlier
    assert keys[i] in reachable
    # The sender's own copy after sending i-1 cannot re-derive its earlier keys either.
    alice2 = ratchet.EpochRatchets(bytes([5]) * 32, 0, 1, [1, 2])
    for _ in range(i - 1):
        alice2.next_send()
    mine = copy.deepcopy(alice2)
    assert not {mine.next_send()[1] for _ in range(50)} & earlier


def test_forward_secrecy_memory_at_epoch_e_opens_nothing_before_e_minus_1() -> None:
    """Property S11 (across epochs): a member's whole key state copied at epoch e holds no
    ratchet for epochs before e-1 and no key for any message it already opened."""
    circle = Circle(3)
    for _ in range(4):
        circle.talk(2)
        circle.commit()
    victim = circle.members[3].schedule
    assert victim is not None
    stolen = copy.deepcopy(victim)
    e = stolen.current.epoch
    assert stolen.epochs == (e - 1, e)
    for old in range(e - 1):
        with pytest.raises(EpochError):
            stolen.ratchets(old)
    # Every message of every epoch was opened, so no retained chain holds one of their keys.
    for record in circle.records[-2:]:
        r = stolen.ratchets(record.epoch)
        for sender, seq, _ in record.messages:
            with pytest.raises(ReplayError):
                r.key_for(sender, seq)
    held = {bytes(b) for b in stolen.current.secret_buffers()}
    for epoch in range(e - 1, e + 1):
        held |= {bytes(b) for b in stolen.ratchets(epoch).secret_buffers()}
    opened = {k for record in circle.records for k in record.keys}
    assert opened and not held & opened
    assert stolen.current._sender_root == bytearray(32)  # consumed into the chains


# --------------------------------------------------------------------------- post-compromise


def test_post_compromise_memory_at_e_is_locked_out_of_e_plus_2() -> None:
    """Property S11 (post-compromise): memory copied at epoch e, with every later public
    record, exposes e and e+1 and nothing from e+2 on, because e+2's commit secret is sealed
    to keys the member drew after the copy."""
    circle = Circle(4)
    circle.commit()
    e = circle.epoch
    victim = circle.members[3]
    assert victim.schedule is not None
    stolen_schedule = copy.deepcopy(victim.schedule)
    stolen_keys = [copy.deepcopy(victim.keys)]  # already drawn for e+1: the worst case
    circle.commit()  # e+1
    circle.commit()  # e+2
    circle.commit()  # e+3
    # e+1 is exposed, as documented: the stolen next-epoch keys open its commit secret.
    secret = try_open(stolen_keys, circle.records[e + 1], circle.suite)
    assert secret is not None
    stolen_schedule.advance(secret, circle.records[e + 1].transcript, circle.members)
    assert stolen_schedule.current.epoch == e + 1
    # e+2 and later: nothing the attacker holds opens any sealed entry ...
    for record in circle.records[e + 2 :]:
        assert try_open(stolen_keys, record, circle.suite) is None
    # ... and without the commit secret, no guess of it reproduces the epoch.
    guess = copy.deepcopy(stolen_schedule)
    guess.advance(bytes(32), circle.records[e + 2].transcript, circle.members)
    assert guess.current.authenticator != circle.authenticator(e + 2)
    # Messages of e+2 stay closed to the attacker's guessed chains.
    circle.commit()
    circle.talk(2)
    last = circle.records[-1]
    for sender, seq, ct in last.messages:
        with pytest.raises(TamperedError):
            key = guess.ratchets(e + 2).key_for(sender, seq)
            crypto.aead_open(key, ct, b"", bytes(24), "message")


def test_post_compromise_e_plus_2_secret_differs_from_anything_derivable() -> None:
    """The same property checked on the secrets themselves: the honest member's epoch e+2
    authenticator differs from every epoch the attacker can compute."""
    circle = Circle(3)
    e = circle.epoch
    victim = circle.members[2]
    assert victim.schedule is not None
    stolen = copy.deepcopy(victim.schedule)
    stolen_keys = [copy.deepcopy(victim.keys)]
    circle.commit()
    circle.commit()
    honest = circle.members[2].schedule
    assert honest is not None and honest.current.epoch == e + 2
    secret = try_open(stolen_keys, circle.records[e + 1], circle.suite)
    assert secret is not None
    stolen.advance(secret, circle.records[e + 1].transcript, circle.members)
    assert try_open(stolen_keys, circle.records[e + 2], circle.suite) is None
    candidates = []
    for guess in (bytes(32), secret):
        attempt = copy.deepcopy(stolen)
        attempt.advance(guess, circle.records[e + 2].transcript, circle.members)
        candidates.append(attempt.current.authenticator)
    assert honest.current.authenticator not in candidates


# --------------------------------------------------------------------------- removal


@pytest.mark.parametrize("suite", [Suite.X25519, Suite.X25519_MLKEM768])
def test_a_removed_member_gets_nothing_of_the_next_epoch(suite: Suite) -> None:
    """Property S5: the member removed at the commit into e+1 holds the init secret of e and
    fresh keys it announced, but no entry is sealed to them: e+1 stays closed to it."""
    circle = Circle(4, suite)
    circle.commit()
    removed = circle.members[4]
    assert removed.schedule is not None
    its_keys = [removed.keys]
    its_schedule = removed.schedule
    circle.commit(remove=frozenset({4}))
    record = circle.records[-1]
    assert 4 not in record.sealed
    if suite is Suite.X25519_MLKEM768:
        assert record.hybrid  # removal is always a post-quantum step
    assert try_open(its_keys, record, suite) is None
    its_schedule.advance(bytes(32), record.transcript, [1, 2, 3])
    assert its_schedule.current.authenticator != circle.authenticator(record.epoch)
    circle.talk(2)
    with pytest.raises(TamperedError):
        _, seq, ct = circle.records[-1].messages[0]
        key = its_schedule.ratchets(record.epoch).key_for(2, seq)
        crypto.aead_open(key, ct, b"", bytes(24), "message")


# --------------------------------------------------------------------------- post-quantum


def open_with_x25519_only(
    secret: bytes, public: bytes, sealed: bytes, ad: bytes, pk_m: bytes = b""
) -> bytes:
    """What an attacker who broke X25519 (but not ML-KEM) can try on a sealed entry: it has
    every public value and the X25519 shared secret, and must guess the ML-KEM one."""
    kind, ct_x, ct_m, box = kem._split(sealed)
    ss_x = crypto.x25519_shared(secret, ct_x)
    pk_m = pk_m if kind == kem.KIND_HYBRID else b""
    shared = kem.combine(kind, b"", ss_x, ct_m, ct_x, pk_m, public)
    return kem._aead_open(shared, kind, sealed[: len(sealed) - len(box)], box, ad)


def test_x25519_alone_broken_opens_no_suite_2_epoch() -> None:
    """Property S12: with every X25519 secret revealed (epoch keys of every member, all
    epochs) and the whole public record, no suite-2 epoch secret can be derived: PQ epochs
    need ML-KEM, and the X25519-only epochs between them chain from secrets it never had."""
    assert pq.available()
    circle = Circle(3)
    for _ in range(6):
        circle.talk(2)
        circle.commit()
    by_public = {public: secret for secret, public in circle.x25519_secrets}
    recovered: dict[int, bytes] = {}
    for record in circle.records:
        for m, sealed in record.sealed.items():
            ad = kem.commit_ad(CIRCLE, m, record.epoch, circle.suite)
            public = record.public[m].x25519
            if record.hybrid:
                with pytest.raises(TamperedError):
                    pk_m = record.public[m].mlkem
                    open_with_x25519_only(by_public[public], public, sealed, ad, pk_m)
            else:
                recovered[record.epoch] = open_with_x25519_only(
                    by_public[public], public, sealed, ad
                )
    # Classic epochs in suite 2 leak their commit secret to this attacker ...
    assert recovered and all(not circle.records[e].hybrid for e in recovered)
    # ... but the epoch secret needs the previous init secret too, which it never has.
    for epoch, commit in recovered.items():
        th = circle.records[epoch].transcript
        for init_guess in (ks.GENESIS, commit, bytes([1]) * 32):
            joiner = ks.joiner_secret(init_guess, commit, circle.suite, CIRCLE, epoch, th)
            guess = ks.EpochSecrets.from_welcome(joiner, circle.suite, CIRCLE, epoch, th)
            assert guess.authenticator != circle.authenticator(epoch)
    # And the classic suite, for contrast, falls to the same attacker on its first epoch.
    classic = Circle(2, Suite.X25519)
    record = classic.records[0]
    public = record.public[2].x25519
    secret = {p: s for s, p in classic.x25519_secrets}[public]
    joiner = open_with_x25519_only(
        secret, public, record.sealed[2], kem.commit_ad(CIRCLE, 2, 0, Suite.X25519)
    )
    opened = ks.EpochSecrets.from_welcome(joiner, Suite.X25519, CIRCLE, 0, record.transcript)
    assert opened.authenticator == classic.authenticator(0)


def test_every_member_agrees_on_the_authenticator_and_it_changes_each_epoch() -> None:
    """Property S4: one authenticator per epoch, equal for all members, new every epoch."""
    circle = Circle(4)
    seen = set()
    for _ in range(3):
        values = {
            mem.schedule.current.authenticator
            for mem in circle.members.values()
            if mem.schedule is not None
        }
        assert len(values) == 1
        seen |= values
        circle.commit()
    assert len(seen) == 3
