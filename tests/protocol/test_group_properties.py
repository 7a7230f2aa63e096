"""The key schedule's properties through the group layer members really run (PROTOCOL.md 9.8).

The attacker holds what the server holds (every frame the recording relay carried) and, per
test, a copy of one member's memory (a deep copy of its ``CircleCrypto``) or every X25519
secret ever drawn. It tries its state on the frames and every secret it holds as a raw key on
every ciphertext.
"""

from __future__ import annotations

import copy
import os

import pytest

from protocol import crypto, kem
from protocol import keyschedule as ks
from protocol.errors import CryptoError, EpochError, ReplayError
from protocol.frames import Rekey, Relayed, Welcome, decode_frame
from protocol.group import welcome_ad
from protocol.kem import EpochKeyPair, Suite

from .harness import Group, Party


def _talk(group: Group, log: list[Relayed]) -> None:
    """Everyone posts once; everyone receives everything."""
    for party in list(group.parties.values()):
        relayed = group.post(party, f"from {party.handle} in epoch {party.circle.epoch}")
        group.deliver(relayed)
        log.append(relayed)


def _step(group: Group) -> None:
    group.apply(group.rekey_all())


def _raw_keys_open_nothing(secrets: list[bytes], frames: list[Relayed], cid: bytes) -> None:
    """No secret the attacker holds decrypts any of ``frames`` used as a key directly, or as
    the base of the epoch's message key."""
    for frame in frames:
        env = frame.env
        ad = crypto.message_ad(cid, env.epoch, frame.sender, env.seq, frame.kind)
        for secret in secrets:
            for key in (secret, crypto.epoch_subkey(secret, "message")):
                with pytest.raises(CryptoError):
                    crypto.aead_open(key, env.ct, ad, env.nonce, "message")


def _circle() -> tuple[Group, Party, Party, Party]:
    group = Group()
    a, b, c = (group.join(h) for h in ("quiet-otter", "gentle-lynx", "brave-finch"))
    return group, a, b, c


def test_a_memory_copy_opens_nothing_before_the_previous_epoch() -> None:
    """Forward secrecy: c's memory copied at epoch e holds no key for epochs before e-1, and
    no key of a message it already read."""
    group, a, b, c = _circle()
    log: list[Relayed] = []
    for _ in range(4):
        _talk(group, log)
        _step(group)
    _talk(group, log)
    e = c.circle.epoch
    stolen = copy.deepcopy(c.circle)
    others = [f for f in log if f.sender != c.member]
    assert {f.env.epoch for f in others} >= {e - 3, e - 2, e - 1, e}
    for frame in others:
        expected = EpochError if frame.env.epoch < e - 1 else ReplayError
        with pytest.raises(expected):
            stolen.open(frame)
    _raw_keys_open_nothing(stolen.secret_material(), others, group.invite.circle_id)


def test_a_memory_copy_is_locked_out_two_epochs_later() -> None:
    """Post-compromise security: with c's memory copied at e, the attacker follows the
    recorded commits; it opens e+1 (sealed to a key c drew before the copy) and nothing of
    e+2 or later, sealed to keys c drew after it."""
    group, a, b, c = _circle()
    _step(group)
    e = c.circle.epoch
    stolen = copy.deepcopy(c.circle)
    steps: list[tuple[Rekey, object]] = []
    later: list[Relayed] = []
    for _ in range(3):
        step = group.rekey_all()
        group.apply(step)
        steps.append(step)
        _talk(group, later)
    rekey_1, roster_1 = steps[0]
    assert stolen.apply_rekey(rekey_1)  # the documented exposure: e+1
    stolen.apply_roster(roster_1)  # type: ignore[arg-type]
    first = next(f for f in later if f.env.epoch == e + 1 and f.sender == a.member)
    assert stolen.open(first).content.body.startswith("from quiet-otter")  # type: ignore[attr-defined]
    with pytest.raises(CryptoError):
        stolen.apply_rekey(steps[1][0])
    locked = [f for f in later if f.env.epoch >= e + 2 and f.sender != c.member]
    assert locked
    for frame in locked:
        with pytest.raises(EpochError):
            stolen.open(frame)
    _raw_keys_open_nothing(stolen.secret_material(), locked, group.invite.circle_id)


def test_a_removed_member_opens_nothing_after_its_removal() -> None:
    group, a, b, c = _circle()
    _step(group)
    kept = copy.deepcopy(b.circle)  # everything b held just before it was removed
    raw = kept.secret_material()
    rekey, roster = group.remove(b.member)
    group.apply((rekey, roster), [a, c])
    after: list[Relayed] = []
    _talk(group, after)
    _step(group)
    _talk(group, after)
    assert b.member not in {e.member for e in rekey.keys}
    assert kept.apply_rekey(rekey) is False and kept.removed
    for frame in after:
        with pytest.raises(EpochError):
            kept.open(frame)
    assert len(raw) >= 4  # epoch keys, epoch secrets, its own fresh keys, chain keys
    _raw_keys_open_nothing(raw, after, group.invite.circle_id)


@pytest.mark.parametrize("suite", [Suite.X25519_MLKEM768, Suite.X25519])
def test_with_x25519_broken_no_suite_2_welcome_or_pq_commit_opens(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record now, decrypt later with X25519 broken (every X25519 secret of every epoch key
    revealed): in suite 2 every welcome and every post-quantum commit needs ML-KEM too, so
    no joiner's first epoch opens, and the chain from there carries it (9.4;
    test_keyschedule_properties runs the chain itself). In suite 1 the same attacker opens
    every welcome."""
    revealed: list[tuple[kem.EpochPublicKey, bytes]] = []
    draw = EpochKeyPair.for_suite.__func__  # type: ignore[attr-defined]

    def recording(cls: type[EpochKeyPair], epoch: int, s: Suite, *rng: object) -> EpochKeyPair:
        pair: EpochKeyPair = draw(cls, epoch, s, *rng)
        revealed.append((pair.public, pair.x25519_secret()))
        return pair

    monkeypatch.setattr(EpochKeyPair, "for_suite", classmethod(recording))
    group = Group(suite=suite)
    for handle in ("quiet-otter", "gentle-lynx"):
        group.join(handle)
    for _ in range(ks.PQ_INTERVAL + 1):
        _step(group)
    monkeypatch.undo()
    cid = group.invite.circle_id

    def opens(sealed: bytes, ad: bytes) -> bool:
        """Try every revealed X25519 secret, with a guessed ML-KEM seed where there is one."""
        for public, secret in revealed:
            seed = bytearray(os.urandom(64)) if public.hybrid else bytearray()
            try:
                EpochKeyPair(0, public, bytearray(secret), seed).open(sealed, ad)
            except CryptoError:
                continue
            return True
        return False

    frames = [decode_frame(data) for data in group.relay.wire]
    welcomes = [f for f in frames if isinstance(f, Welcome)]
    assert len(welcomes) == 2
    opened = [
        opens(w.welcome.secret, welcome_ad(cid, w.member, w.welcome.epoch, suite)) for w in welcomes
    ]
    assert opened == [suite is Suite.X25519] * 2
    entries = [(f, e) for f in frames if isinstance(f, Rekey) for e in f.keys]
    kinds = {e.sealed[0] for _, e in entries}
    if suite is Suite.X25519:
        assert kinds == {kem.KIND_CLASSIC}
        return
    assert kinds == {kem.KIND_CLASSIC, kem.KIND_HYBRID}  # post-quantum steps and the ones between
    for rekey, entry in entries:
        ad = kem.commit_ad(cid, entry.member, rekey.epoch, suite)
        # Classic entries between post-quantum steps do open: the attacker is real. Without
        # an init secret (every chain starts at a welcome or the opener's unsent secret)
        # those commit secrets derive nothing.
        assert opens(entry.sealed, ad) is (entry.sealed[0] == kem.KIND_CLASSIC)
