"""Crypto construction: tamper tests on every sealed object, padding, key files, round-trips."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import crypto, limits
from protocol.codec import decode_struct, pack
from protocol.content import (
    MOODS,
    ConcernContent,
    InfoContent,
    KnockContent,
    MoodContent,
    PostContent,
    RosterContent,
    RosterEntry,
)
from protocol.crypto import CircleSecrets, MemberKeys, SigningKeys
from protocol.errors import CryptoError, LocalProtocolError, TamperedError
from protocol.frames import ConcernNotice, Relayed
from protocol.group import (
    CONCERN_BUCKETS,
    MOOD_BUCKETS,
    NOTE_BUCKETS,
    CircleCrypto,
    open_info,
    open_knock,
    seal_info,
    seal_knock,
    seal_signed_to,
)
from protocol.handshake import (
    approve,
    resume_proof,
    sign_moderate,
    sign_open,
    verify_approval,
    verify_moderate,
    verify_open,
    verify_resume,
)
from protocol.kem import EpochKeyPair, Suite

from .harness import Group


def flips(data: bytes) -> list[bytes]:
    """The object with one byte flipped at its start, middle and end."""
    out = []
    for index in (0, len(data) // 2, len(data) - 1):
        mutable = bytearray(data)
        mutable[index] ^= 0x01
        out.append(bytes(mutable))
    return out


def assert_tamper_evident(data: bytes, open_: Callable[[bytes], object]) -> None:
    open_(data)  # the untouched object opens
    for bad in flips(data):
        with pytest.raises(TamperedError):
            open_(bad)
    with pytest.raises(TamperedError):
        open_(data[:-1])


@pytest.fixture(scope="module")
def group() -> Group:
    g = Group()
    g.join("quiet-otter")
    g.join("gentle-lynx")
    return g


def test_message_ciphertext_nonce_and_signature_are_tamper_evident() -> None:
    """Flip bytes of the very envelope being opened; the untouched envelope then opens."""
    group = Group()
    a = group.join("quiet-otter")
    reader = group.join("gentle-lynx").circle
    relayed = group.post(a, "a message to tamper with")
    env = relayed.env
    for field in ("ct", "sig", "nonce"):
        for bad in flips(getattr(env, field)):
            forged = dataclasses.replace(relayed, env=dataclasses.replace(env, **{field: bad}))
            with pytest.raises(TamperedError):
                reader.open(forged)
    # Control: the same envelope, unflipped, opens (so the failures above were the flips).
    opened = reader.open(relayed)
    assert isinstance(opened.content, PostContent)
    assert opened.content.body == "a message to tamper with"


def test_sealed_box_is_tamper_evident() -> None:
    keys = MemberKeys.generate()
    sealed = crypto.seal_to(keys.box.public, b"epoch key material")
    assert_tamper_evident(sealed, lambda d: crypto.open_sealed(keys.box, d, "box"))
    other = MemberKeys.generate()
    with pytest.raises(TamperedError):
        crypto.open_sealed(other.box, sealed, "box")


def test_welcome_is_tamper_evident(group: Group) -> None:
    """Every byte of the sealed secret, the sealed content and the signature counts."""
    joiner, _ = group.candidate(77)
    _, _, body = group.welcome_for(joiner)
    del group.entries[77]  # the group is shared by this module's tests: never admitted

    def fresh() -> CircleCrypto:
        circle = CircleCrypto(
            group.invite.circle_id,
            77,
            joiner.keys,
            group.facilitator.keys.sign.public,
            group.invite.facilitator_fingerprint,
        )
        circle._own_keys = joiner._own_keys  # the same knock key, a state not yet welcomed
        return circle

    for field in ("secret", "sealed"):
        for bad in flips(getattr(body, field)):
            with pytest.raises(TamperedError):
                fresh().accept_welcome(dataclasses.replace(body, **{field: bad}))
    for bad in flips(body.auth.sig):
        with pytest.raises(TamperedError):
            fresh().accept_welcome(
                dataclasses.replace(body, auth=dataclasses.replace(body.auth, sig=bad))
            )
    assert fresh().accept_welcome(body).member == 77  # control


def test_rekey_entry_and_roster_are_tamper_evident(group: Group) -> None:
    c = group.parties[3]
    rekey, roster = group.rekey_all()
    entry = next(e for e in rekey.keys if e.member == c.member)
    for bad in flips(entry.sealed):
        forged = dataclasses.replace(rekey, keys=(dataclasses.replace(entry, sealed=bad),))
        with pytest.raises(TamperedError):
            c.circle.apply_rekey(forged)
    assert c.circle.apply_rekey(rekey)
    for field in ("sealed", "nonce"):
        for bad in flips(getattr(roster, field)):
            with pytest.raises(TamperedError):
                c.circle.apply_roster(dataclasses.replace(roster, **{field: bad}))
    assert c.circle.apply_roster(roster)


def test_rekey_and_roster_signatures_are_tamper_evident() -> None:
    group = Group()
    c = group.join("quiet-otter").circle
    rekey, roster = group.rekey_all()
    for bad in flips(rekey.auth.sig):
        forged = dataclasses.replace(rekey, auth=dataclasses.replace(rekey.auth, sig=bad))
        with pytest.raises(TamperedError):
            c.apply_rekey(forged)
    assert c.epoch == rekey.epoch - 1
    assert c.apply_rekey(rekey)  # control: the untouched rekey is accepted
    assert c.epoch == rekey.epoch

    for bad in flips(roster.auth.sig):
        forged = dataclasses.replace(roster, auth=dataclasses.replace(roster.auth, sig=bad))
        with pytest.raises(TamperedError):
            c.apply_roster(forged)
    assert c.roster_version == roster.version - 1
    assert c.apply_roster(roster)
    assert c.roster_version == roster.version


def test_open_resume_and_moderate_signatures_are_tamper_evident() -> None:
    group = Group()
    fac = group.facilitator.keys.sign
    cid = group.invite.circle_id
    challenge = b"c" * 32

    opened = sign_open(fac, challenge, group.open_frame)
    verify_open(challenge, opened)
    for bad in flips(opened.sig):
        with pytest.raises(TamperedError):
            verify_open(challenge, dataclasses.replace(opened, sig=bad))

    proof = resume_proof(fac, challenge, cid, 1)
    verify_resume(fac.public, proof, challenge, cid, 1)
    for bad in flips(proof):
        with pytest.raises(TamperedError):
            verify_resume(fac.public, bad, challenge, cid, 1)

    mod = sign_moderate(fac, cid, 7, "warn", target=3, note=b"sealed note")
    verify_moderate(cid, mod)
    for bad in flips(mod.sig):
        with pytest.raises(TamperedError):
            verify_moderate(cid, dataclasses.replace(mod, sig=bad))
    for bad in flips(mod.note or b""):  # the signature covers the sealed warning note too
        with pytest.raises(TamperedError):
            verify_moderate(cid, dataclasses.replace(mod, note=bad))
    phase = sign_moderate(fac, cid, 8, "phase:sharing")
    verify_moderate(cid, phase)
    for other in ("phase:check-in", "phase:check-out", "phase:none"):  # the phase is signed
        with pytest.raises(TamperedError):
            verify_moderate(cid, dataclasses.replace(phase, action=other))


def test_key_file_is_tamper_evident() -> None:
    """Start (magic), salt, middle and end of the key-file blob; each flip is refused."""
    blob = crypto.lock_seed(b"q" * 32, "pass")
    assert crypto.unlock_seed(blob, "pass") == b"q" * 32  # control
    salt_at = len(crypto.KEYFILE_MAGIC)
    for index in (0, salt_at, len(blob) // 2, len(blob) - 1):
        mutable = bytearray(blob)
        mutable[index] ^= 0x01
        with pytest.raises(CryptoError):
            crypto.unlock_seed(bytes(mutable), "pass")
    with pytest.raises(CryptoError):
        crypto.unlock_seed(blob[:-1], "pass")


def test_knock_and_info_are_tamper_evident() -> None:
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)
    keys = MemberKeys.generate()
    epoch_key = EpochKeyPair.for_suite(0, Suite.X25519_MLKEM768).public
    content = KnockContent(handle="quiet-otter", mood=None)
    knock = seal_knock(secrets, b"i" * 16, keys, 0, epoch_key, content)
    sign, box = keys.sign.public, keys.box.public
    assert_tamper_evident(
        knock, lambda d: open_knock(secrets, b"i" * 16, sign, box, 0, epoch_key, d)
    )
    # The knock binds the epoch key it announces: a server cannot swap in its own.
    swapped = EpochKeyPair.for_suite(0, Suite.X25519_MLKEM768).public
    for key_id, public in ((0, swapped), (1, epoch_key)):
        with pytest.raises(TamperedError):
            open_knock(secrets, b"i" * 16, sign, box, key_id, public, knock)
    info = seal_info(
        secrets, b"i" * 16, b"f" * 32, InfoContent(title="t", rules="r", facilitator_box=b"b" * 32)
    )
    assert_tamper_evident(info, lambda d: open_info(secrets, b"i" * 16, b"f" * 32, d))
    # Bound to the circle and to the joiner's keys.
    with pytest.raises(TamperedError):
        open_info(secrets, b"j" * 16, b"f" * 32, info)
    with pytest.raises(TamperedError):
        open_knock(secrets, b"i" * 16, b"x" * 32, keys.box.public, 0, epoch_key, knock)


def test_admission_proof_is_bound_to_challenge_circle_and_keys() -> None:
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)
    proof = crypto.admission_proof(secrets, b"c" * 32, b"i" * 16, b"k" * 32, b"b" * 32)
    crypto.verify_admission(secrets.verifier, proof, b"c" * 32, b"i" * 16, b"k" * 32, b"b" * 32)
    for args in (
        (b"C" * 32, b"i" * 16, b"k" * 32, b"b" * 32),  # replayed against a new challenge
        (b"c" * 32, b"j" * 16, b"k" * 32, b"b" * 32),
        (b"c" * 32, b"i" * 16, b"K" * 32, b"b" * 32),
    ):
        with pytest.raises(TamperedError):
            crypto.verify_admission(secrets.verifier, proof, *args)
    for bad in flips(proof):
        with pytest.raises(TamperedError):
            crypto.verify_admission(
                secrets.verifier, bad, b"c" * 32, b"i" * 16, b"k" * 32, b"b" * 32
            )
    wrong = CircleSecrets.from_secret(b"t" * 32, b"i" * 16)
    guess = crypto.admission_proof(wrong, b"c" * 32, b"i" * 16, b"k" * 32, b"b" * 32)
    with pytest.raises(TamperedError):
        crypto.verify_admission(secrets.verifier, guess, b"c" * 32, b"i" * 16, b"k" * 32, b"b" * 32)


def test_keys_are_derived_per_purpose() -> None:
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)
    values = {secrets.knock_key, secrets.info_key, secrets.admission.seed, secrets.verifier}
    assert len(values) == 4
    assert crypto.epoch_subkey(b"e" * 32, "message") != crypto.epoch_subkey(b"e" * 32, "roster")
    other_circle = CircleSecrets.from_secret(b"s" * 32, b"j" * 16)
    assert other_circle.knock_key != secrets.knock_key


def test_open_moderation_resume_and_approval_signatures(group: Group) -> None:
    fac = group.facilitator.keys.sign
    challenge = b"c" * 32
    verify_open(b"o" * 32, sign_open(fac, b"o" * 32, group.open_frame))
    with pytest.raises(TamperedError):
        verify_open(challenge, sign_open(fac, b"o" * 32, group.open_frame))
    longterm = SigningKeys.generate()
    opened = dataclasses.replace(
        group.open_frame, approval=approve(longterm, challenge, group.open_frame.circle, fac.public)
    )
    assert verify_approval(challenge, opened) == longterm.public
    with pytest.raises(TamperedError):
        verify_approval(b"x" * 32, opened)
    mod = sign_moderate(fac, group.invite.circle_id, 1, "mute", target=3, minutes=10)
    verify_moderate(group.invite.circle_id, mod)
    for change in ({"minutes": 60}, {"target": 2}, {"seq": 2}, {"action": "ban"}):
        with pytest.raises(TamperedError):
            verify_moderate(group.invite.circle_id, dataclasses.replace(mod, **change))
    proof = resume_proof(fac, challenge, group.invite.circle_id, 1)
    verify_resume(fac.public, proof, challenge, group.invite.circle_id, 1)
    with pytest.raises(TamperedError):
        verify_resume(fac.public, proof, challenge, group.invite.circle_id, 2)


@given(st.binary(max_size=limits.PAD_BUCKETS[-1] - 1))
def test_padding_round_trips_to_a_bucket(data: bytes) -> None:
    padded = crypto.pad(data)
    assert len(padded) in limits.PAD_BUCKETS
    assert crypto.unpad(padded) == data


def test_padding_rejects_garbage() -> None:
    with pytest.raises(CryptoError):
        crypto.pad(b"x" * limits.PAD_BUCKETS[-1])
    with pytest.raises(TamperedError):
        crypto.unpad(b"\x00" * 256)
    with pytest.raises(TamperedError):
        crypto.unpad(b"x" * 100)


@settings(max_examples=50, deadline=None)
@given(body=st.text(max_size=2000), me=st.booleans(), warning=st.none() | st.text(max_size=80))
def test_message_round_trip(group: Group, body: str, me: bool, warning: str | None) -> None:
    a, b = group.parties[2], group.parties[3]
    content = PostContent(body=body, reply_to=None, warning=warning, me=me)
    env = a.circle.seal("post", content)
    opened = b.circle.open(Relayed(kind="post", sender=a.member, rseq=1, env=env))
    assert opened.content == content


def test_transcript_is_unambiguous() -> None:
    assert crypto.transcript(b"ab", b"c") != crypto.transcript(b"a", b"bc")
    assert crypto.transcript(1, b"") != crypto.transcript(b"\x00" * 7 + b"\x01")


def test_key_file_round_trip_and_wrong_passphrase() -> None:
    blob = crypto.lock_seed(b"q" * 32, "correct horse battery staple")
    assert crypto.unlock_seed(blob, "correct horse battery staple") == b"q" * 32
    with pytest.raises(CryptoError, match="wrong passphrase"):
        crypto.unlock_seed(blob, "wrong")
    with pytest.raises(CryptoError, match="not a Circle"):
        crypto.unlock_seed(b"garbage", "x")


def test_repr_never_shows_secrets() -> None:
    keys = MemberKeys.generate()
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)
    text = repr(keys) + repr(secrets)
    assert keys.sign.seed.hex() not in text and keys.box.secret.hex() not in text
    assert "7373737373" not in text


# --------------------------------------------------------------------------- sizes (S1)

WIDE = "\U0001f33f"  # four bytes of UTF-8


def test_knocks_are_one_size_whatever_the_handle_and_mood() -> None:
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)
    keys = MemberKeys.generate()
    epoch_key = EpochKeyPair.for_suite(0, Suite.X25519_MLKEM768).public
    sizes = {
        len(seal_knock(secrets, b"i" * 16, keys, 0, epoch_key, KnockContent(handle, mood)))
        for handle in ("a", "quiet-otter", WIDE * limits.MAX_HANDLE)
        for mood in (None, "low", "okay", "great")
    }
    assert sizes == {limits.NONCE_BYTES + limits.PAD_BUCKETS[0] + crypto.AEAD_OVERHEAD}


def test_circle_info_is_padded_and_the_largest_still_opens() -> None:
    secrets = CircleSecrets.from_secret(b"s" * 32, b"i" * 16)

    def seal(title: str, rules: str) -> bytes:
        content = InfoContent(title=title, rules=rules, facilitator_box=b"b" * 32)
        return seal_info(secrets, b"i" * 16, b"f" * 32, content)

    assert len(seal("t", "Be kind.")) == len(seal("A longer title", "Be kind. Listen. " * 5))
    biggest = seal(WIDE * limits.MAX_TITLE, WIDE * 4000)
    assert len(biggest) <= limits.MAX_SEALED
    assert open_info(secrets, b"i" * 16, b"f" * 32, biggest).rules == WIDE * 4000


def test_rosters_and_welcomes_hide_handle_lengths() -> None:
    group = Group()
    joiner = MemberKeys.generate()

    def roster(handle: str) -> RosterContent:
        entry = RosterEntry(
            member=2,
            handle=handle,
            sign_key=joiner.sign.public,
            box_key=joiner.box.public,
            role="member",
        )
        return RosterContent(
            circle=group.invite.circle_id, version=9, epoch=1, prev=bytes(32), members=(entry,)
        )

    short, long = roster("a"), roster("gentle-lynx-7")
    assert len(pack(long.to_map())) > len(pack(short.to_map())) + 10  # unpadded, they differ
    rosters = [group.signer.roster(r, 1, b"e" * 32).sealed for r in (short, long)]
    assert len(rosters[0]) == len(rosters[1])
    assert len(rosters[0]) - crypto.AEAD_OVERHEAD in limits.PAD_BUCKETS
    # A welcome seals the roster with the joiner on it: two handles of different lengths.
    welcomes = []
    for member, handle in ((2, "a"), (3, "gentle-lynx-7-and-more")):
        joining, _ = group.candidate(member, handle)
        welcomes.append(group.welcome_for(joining)[2].sealed)
        del group.entries[member]
    assert len(welcomes[0]) == len(welcomes[1])
    assert len(welcomes[0]) - limits.NONCE_BYTES - crypto.AEAD_OVERHEAD in limits.PAD_BUCKETS


# --------------------------------------------------------------------------- padded sealed boxes


def _sealed_mood(keys: MemberKeys, mood: str) -> bytes:
    plain = pack(MoodContent(mood=mood).to_map())
    return crypto.seal_padded_to(keys.box.public, plain, MOOD_BUCKETS)


def test_every_check_out_mood_seals_to_one_size() -> None:
    keys = MemberKeys.generate()
    sizes = {len(_sealed_mood(keys, mood)) for mood in MOODS}
    assert sizes == {MOOD_BUCKETS[0] + crypto.BOX_OVERHEAD}
    for mood in MOODS:
        plain = crypto.open_padded(keys.box, _sealed_mood(keys, mood), MOOD_BUCKETS, "check-out")
        assert decode_struct(MoodContent, plain).mood == mood


def _sealed_concern(keys: MemberKeys, content: ConcernContent) -> bytes:
    """A concern as members seal it (PROTOCOL.md 5.9): signed inside the box, at the largest
    epoch and member ids, so the size bound holds for every concern."""
    to = RosterEntry(
        member=limits.MAX_MEMBER_ID,
        handle="calm-heron",
        sign_key=keys.sign.public,
        box_key=keys.box.public,
        role="facilitator",
    )
    return seal_signed_to(
        keys.sign,
        bytes(16),
        "concern",
        limits.MAX_EPOCH,
        limits.MAX_MEMBER_ID,
        to,
        pack(content.to_map()),
        CONCERN_BUCKETS,
    )


def _open_concern(keys: MemberKeys, sealed: bytes) -> bytes:
    inner = crypto.open_padded(keys.box, sealed, CONCERN_BUCKETS, "concern")
    return inner[4 + 64 :]


def test_concerns_seal_to_their_bucket_and_round_trip() -> None:
    keys = MemberKeys.generate()
    short = [ConcernContent(target=None, note="x" * n) for n in (0, 10, 100)]
    long = [ConcernContent(target=(1, 2, 3), note="y" * n) for n in (300, 400, 500)]
    for group_ in (short, long):
        sealed = [_sealed_concern(keys, c) for c in group_]
        assert len({len(s) for s in sealed}) == 1
        for content, s in zip(group_, sealed, strict=True):
            assert decode_struct(ConcernContent, _open_concern(keys, s)) == content
    assert len(_sealed_concern(keys, short[0])) < len(_sealed_concern(keys, long[0]))


def test_the_longest_concern_fits_its_field() -> None:
    keys = MemberKeys.generate()
    big = limits.MAX_SEQ
    widest = "\U0001f600" * (limits.MAX_CONCERN_BYTES // 4) + "x" * (limits.MAX_CONCERN_BYTES % 4)
    for note in (widest, "x" * limits.MAX_CONCERN_CHARS):
        content = ConcernContent(target=(big, big, big), note=note)
        sealed = _sealed_concern(keys, content)
        assert len(sealed) <= limits.MAX_SEALED_TO
        ConcernNotice(sender=1, sealed=sealed)  # the frame accepts it
    with pytest.raises(LocalProtocolError):
        ConcernContent(target=None, note="\U0001f600" * (limits.MAX_CONCERN_BYTES // 4 + 1))
    with pytest.raises(LocalProtocolError):
        ConcernContent(target=None, note="x" * (limits.MAX_CONCERN_CHARS + 1))


def test_warning_notes_pad_to_buckets_and_the_longest_fits() -> None:
    keys = MemberKeys.generate()

    def seal(note: bytes) -> bytes:
        return crypto.seal_padded_to(keys.box.public, note, NOTE_BUCKETS)

    assert len(seal(b"a")) == len(seal(b"a" * 200))
    longest = b"z" * limits.MAX_WARNING_BYTES
    sealed = seal(longest)
    assert len(sealed) == limits.MAX_NOTE
    assert crypto.open_padded(keys.box, sealed, NOTE_BUCKETS, "warning") == longest
    with pytest.raises(CryptoError):
        seal(longest + b"z")
    with pytest.raises(TamperedError):  # an unpadded box of another length is refused
        crypto.open_padded(keys.box, crypto.seal_to(keys.box.public, b"hi"), NOTE_BUCKETS, "w")
