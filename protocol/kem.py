"""Cipher suites, per-epoch member keys and the X-Wing-style hybrid KEM (PROTOCOL.md 9.1-9.3).

Suite 1 is X25519 alone; suite 2 (the default) is X25519 + ML-KEM-768, combined so that the
derived secret stays hidden unless **both** are broken. Each member draws a fresh
:class:`EpochKeyPair` for every epoch and announces it in a signed :class:`KeyUpdate`; a
facilitator seals the next epoch's commit secret to those fresh keys (:func:`seal_to_epoch_key`)
and each member deletes its secret once it has opened it (:meth:`EpochKeyPair.wipe`).

Pure functions and small classes; no I/O; all libsodium calls go through ``protocol.crypto``,
all ML-KEM calls through ``protocol.pq``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from protocol import crypto, pq
from protocol.crypto import Random, SigningKeys, system_random
from protocol.errors import CryptoError, TamperedError


class Suite(IntEnum):
    """Cipher suites; the number is the suite byte bound into signatures and derivations."""

    X25519 = 1
    X25519_MLKEM768 = 2


DEFAULT_SUITE = Suite.X25519_MLKEM768


class SuiteError(CryptoError):
    """A suite is unknown, or weaker than the one the invite asks for (a downgrade)."""


def parse_suite(value: int) -> Suite:
    """The suite for a suite byte; unknown values are refused."""
    try:
        return Suite(value)
    except ValueError:
        raise SuiteError("this circle uses a cipher suite this version does not know") from None


def suite_byte(suite: Suite) -> bytes:
    """The one byte that names ``suite`` in invites and signed transcripts."""
    return bytes([int(suite)])


def check_suite(required: Suite, offered: int) -> Suite:
    """Accept ``offered`` only if it is at least as strong as ``required`` (the invite's)."""
    suite = parse_suite(offered)
    if suite < required:
        raise SuiteError(
            "the circle's keys arrived with a weaker cipher suite than the invite names; "
            "they were refused. Ask the facilitator for a fresh invite."
        )
    if suite is Suite.X25519_MLKEM768:
        pq.require()
    return suite


# --------------------------------------------------------------------------- member epoch keys

KIND_CLASSIC = 1
"""A sealed commit secret with an X25519 part only."""
KIND_HYBRID = 2
"""A sealed commit secret with X25519 and ML-KEM-768 parts."""

_L_COMBINE = "kem:combine"
_L_SEAL_KEY = crypto.kdf_label("kem:seal-key")
_L_SEAL_NONCE = crypto.kdf_label("kem:seal-nonce")


@dataclass(frozen=True, slots=True)
class EpochPublicKey:
    """What a member announces for one epoch: an X25519 key and, on PQ epochs, ML-KEM-768."""

    x25519: bytes
    mlkem: bytes = b""

    @property
    def hybrid(self) -> bool:
        return bool(self.mlkem)

    def digest(self) -> bytes:
        """A 32-byte hash of both keys, as the transcript hash records them (9.6)."""
        return crypto.hash_bytes("kem:public", crypto.transcript(self.x25519, self.mlkem))


class EpochKeyPair:
    """A member's fresh secret keys for one epoch; :meth:`wipe` forgets them (9.3).

    Secrets live in bytearrays that ``wipe`` overwrites; the ML-KEM key is kept as its seed.
    """

    __slots__ = ("epoch", "public", "_x25519", "_mlkem_seed")

    def __init__(
        self, epoch: int, public: EpochPublicKey, x25519: bytearray, mlkem_seed: bytearray
    ) -> None:
        self.epoch = epoch
        self.public = public
        self._x25519 = x25519
        self._mlkem_seed = mlkem_seed

    @classmethod
    def generate(cls, epoch: int, hybrid: bool, rng: Random = system_random) -> EpochKeyPair:
        """Draw keys for ``epoch``: X25519 always, ML-KEM-768 if ``hybrid`` (seed from rng).

        In suite 2 members always draw both (:meth:`for_suite`); whether a commit uses
        the ML-KEM half is the facilitator's choice (``keyschedule.needs_pq_step``).
        """
        secret, x_public = crypto.x25519_keypair(rng(32))
        seed = bytearray()
        m_public = b""
        if hybrid:
            seed = bytearray(rng(pq.SEED_BYTES))
            m_public = pq.public_from_seed(seed)
        return cls(epoch, EpochPublicKey(x_public, m_public), bytearray(secret), seed)

    @property
    def wiped(self) -> bool:
        return not any(self._x25519) and not any(self._mlkem_seed)

    def x25519_secret(self) -> bytes:
        """The X25519 secret: for tests that simulate a broken X25519 (9.8)."""
        self._check()
        return bytes(self._x25519)

    def _check(self) -> None:
        if self.wiped:
            raise CryptoError("these epoch keys were already used and forgotten")

    def open(self, sealed: bytes, ad: bytes, expect_hybrid: bool = False) -> bytes:
        """Open a secret sealed to this key pair with :func:`seal_to_epoch_key`.

        ``expect_hybrid`` is what the member computed itself with
        ``keyschedule.needs_pq_step``: an entry without the ML-KEM part is then refused, so a
        facilitator (or anyone rewriting frames) cannot skip a post-quantum step unseen.
        """
        self._check()
        kind, _ct_x, _ct_m, box = _split(sealed)
        if expect_hybrid and kind != KIND_HYBRID:
            raise SuiteError("this epoch's key arrived without its post-quantum part; refused")
        header = sealed[: len(sealed) - len(box)]
        return _aead_open(self.decapsulate(header), kind, header, box, ad)

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The hybrid KEM's decapsulation: the combined secret for ``kind || ct_x || ct_m``."""
        self._check()
        kind, ct_x, ct_m = _split_ciphertext(ciphertext)
        if kind == KIND_HYBRID and not self.public.hybrid:
            raise TamperedError("a post-quantum key was sealed to a classic epoch key")
        ss_x = crypto.x25519_shared(self._x25519, ct_x)
        ss_m = pq.decapsulate(self._mlkem_seed, ct_m) if kind == KIND_HYBRID else b""
        pk_m = self.public.mlkem if kind == KIND_HYBRID else b""
        return combine(kind, ss_m, ss_x, ct_m, ct_x, pk_m, self.public.x25519)

    def wipe(self) -> None:
        crypto.wipe(self._x25519)
        crypto.wipe(self._mlkem_seed)

    def secret_buffers(self) -> tuple[bytearray, bytearray]:
        """Both secret buffers (for tests that look for key material after wipe)."""
        return (self._x25519, self._mlkem_seed)

    @classmethod
    def for_suite(cls, epoch: int, suite: Suite, rng: Random = system_random) -> EpochKeyPair:
        """A member's fresh keys for ``epoch`` in ``suite``: hybrid in suite 2, else classic."""
        return cls.generate(epoch, suite is Suite.X25519_MLKEM768, rng)

    def __repr__(self) -> str:
        kind = "hybrid" if self.public.hybrid else "classic"
        return f"EpochKeyPair(epoch={self.epoch}, {kind}, x25519={self.public.x25519.hex()[:16]}..)"


def combine(
    kind: int, ss_m: bytes, ss_x: bytes, ct_m: bytes, ct_x: bytes, pk_m: bytes, pk_x: bytes
) -> bytes:
    """The X-Wing-style combiner (9.2): labelled BLAKE2b-256 over both shared secrets, both
    ciphertexts and both public keys, so the result is secret if either KEM holds."""
    return crypto.hash_bytes(
        _L_COMBINE, crypto.transcript(kind, ss_m, ss_x, ct_m, ct_x, pk_m, pk_x)
    )


def seal_to_epoch_key(
    recipient: EpochPublicKey,
    secret: bytes,
    ad: bytes,
    hybrid: bool,
    rng: Random = system_random,
) -> bytes:
    """Seal ``secret`` to a member's epoch key: ``kind || ct_x || ct_m || AEAD`` (9.2).

    ``hybrid`` asks for the ML-KEM part as well (join, removal and every
    :data:`~protocol.keyschedule.PQ_INTERVAL` epochs); it needs the recipient's ML-KEM key.
    ``ad`` binds circle, member, epoch and suite (:func:`commit_ad`).
    """
    if hybrid and not recipient.hybrid:
        raise CryptoError("this member announced no post-quantum key for the epoch")
    encapsulation = pq.encapsulate(recipient.mlkem) if hybrid else None
    return seal_encapsulated(recipient, secret, ad, encapsulation, rng)


def seal_encapsulated(
    recipient: EpochPublicKey,
    secret: bytes,
    ad: bytes,
    encapsulation: tuple[bytes, bytes] | None,
    rng: Random = system_random,
) -> bytes:
    """:func:`seal_to_epoch_key` with the ML-KEM ``(shared, ciphertext)`` made by the caller.

    The library's encapsulation draws its own randomness; known-answer vectors pass a recorded
    one here so the whole sealed entry is reproducible (tests/vectors/README.md).
    """
    shared, header = encapsulate_with(recipient, encapsulation, rng)
    return header + _aead_seal(shared, header[0], header, secret, ad)


def encapsulate(
    recipient: EpochPublicKey, hybrid: bool, rng: Random = system_random
) -> tuple[bytes, bytes]:
    """The hybrid KEM's encapsulation (9.2): ``(shared, kind || ct_x || ct_m)``."""
    if hybrid and not recipient.hybrid:
        raise CryptoError("this member announced no post-quantum key for the epoch")
    return encapsulate_with(recipient, pq.encapsulate(recipient.mlkem) if hybrid else None, rng)


def encapsulate_with(
    recipient: EpochPublicKey,
    encapsulation: tuple[bytes, bytes] | None,
    rng: Random = system_random,
) -> tuple[bytes, bytes]:
    """:func:`encapsulate` with the ML-KEM ``(shared, ciphertext)`` given (None: X25519 only)."""
    kind = KIND_CLASSIC if encapsulation is None else KIND_HYBRID
    ephemeral, ct_x = crypto.x25519_keypair(rng(32))
    ss_x = crypto.x25519_shared(ephemeral, recipient.x25519)
    ss_m, ct_m = encapsulation if encapsulation is not None else (b"", b"")
    pk_m = recipient.mlkem if encapsulation is not None else b""
    shared = combine(kind, ss_m, ss_x, ct_m, ct_x, pk_m, recipient.x25519)
    return shared, bytes([kind]) + ct_x + ct_m


def seal_commit(
    recipients: Mapping[int, EpochPublicKey],
    secret: bytes,
    circle_id: bytes,
    epoch: int,
    suite: Suite,
    hybrid: bool,
    rng: Random = system_random,
) -> list[tuple[int, bytes]]:
    """The facilitator's per-member entries for one commit, in member id order (9.4).

    ``recipients`` are the fresh keys from verified key updates of the **remaining** members
    (a removed member is simply absent); ``hybrid`` comes from ``keyschedule.needs_pq_step``.
    """
    if len(secret) != 32:
        raise CryptoError("a commit secret is 32 bytes")
    if hybrid and suite is not Suite.X25519_MLKEM768:
        raise SuiteError("a post-quantum step needs suite 2")
    return [
        (
            m,
            seal_to_epoch_key(
                recipients[m], secret, commit_ad(circle_id, m, epoch, suite), hybrid, rng
            ),
        )
        for m in sorted(recipients)
    ]


def commit_ad(circle_id: bytes, member: int, epoch: int, suite: Suite) -> bytes:
    """Associated data for a commit secret sealed to one member (9.2)."""
    return crypto.transcript("circle:v1:kem:commit", circle_id, member, epoch, int(suite))


def sealed_size(secret_len: int, hybrid: bool) -> int:
    """Bytes of one sealed entry: 81 (classic) or 1,169 (hybrid) for a 32-byte secret."""
    return 1 + 32 + (pq.CIPHERTEXT_BYTES if hybrid else 0) + secret_len + crypto.AEAD_OVERHEAD


def _split_ciphertext(ciphertext: bytes) -> tuple[int, bytes, bytes]:
    if not ciphertext:
        raise TamperedError("a KEM ciphertext is empty")
    kind = ciphertext[0]
    size = {KIND_CLASSIC: 33, KIND_HYBRID: 33 + pq.CIPHERTEXT_BYTES}.get(kind)
    if size is None:
        raise TamperedError("a sealed key names an unknown kind")
    if len(ciphertext) != size:
        raise TamperedError("a KEM ciphertext has the wrong length")
    return kind, ciphertext[1:33], ciphertext[33:]


def _split(sealed: bytes) -> tuple[int, bytes, bytes, bytes]:
    if len(sealed) < 1 + 32 + crypto.AEAD_OVERHEAD:
        raise TamperedError("a sealed key is too short")
    kind = sealed[0]
    if kind == KIND_CLASSIC:
        return kind, sealed[1:33], b"", sealed[33:]
    if kind == KIND_HYBRID:
        end = 33 + pq.CIPHERTEXT_BYTES
        if len(sealed) < end + crypto.AEAD_OVERHEAD:
            raise TamperedError("a sealed key is too short")
        return kind, sealed[1:33], sealed[33:end], sealed[end:]
    raise TamperedError("a sealed key names an unknown kind")


def _aead_seal(shared: bytes, kind: int, header: bytes, plain: bytes, ad: bytes) -> bytes:
    key = crypto.kdf(shared, _L_SEAL_KEY, bytes([kind]))
    nonce = crypto.kdf(shared, _L_SEAL_NONCE, bytes([kind]), size=24)
    return crypto.aead_seal(key, plain, crypto.transcript(ad, header), nonce)


def _aead_open(shared: bytes, kind: int, header: bytes, box: bytes, ad: bytes) -> bytes:
    key = crypto.kdf(shared, _L_SEAL_KEY, bytes([kind]))
    nonce = crypto.kdf(shared, _L_SEAL_NONCE, bytes([kind]), size=24)
    return crypto.aead_open(key, box, crypto.transcript(ad, header), nonce, "sealed key")


# --------------------------------------------------------------------------- key_update


@dataclass(frozen=True, slots=True)
class KeyUpdate:
    """A member's signed announcement of its fresh keys for ``epoch`` (9.3).

    Signed ``sign("key-update", circle_id, member, epoch, suite, x25519, mlkem)`` with the
    member's per-circle Ed25519 key, so neither the server nor another member can substitute
    keys (which would let it read the member's next commit secret).
    """

    circle_id: bytes
    member: int
    epoch: int
    suite: int
    public: EpochPublicKey
    sig: bytes

    def parts(self) -> tuple[bytes | int | str, ...]:
        return key_update_parts(self.circle_id, self.member, self.epoch, self.suite, self.public)


def key_update_parts(
    circle_id: bytes, member: int, epoch: int, suite: int, public: EpochPublicKey
) -> tuple[bytes | int | str, ...]:
    return (circle_id, member, epoch, suite, public.x25519, public.mlkem)


def sign_key_update(
    signer: SigningKeys, circle_id: bytes, member: int, suite: Suite, keys: EpochKeyPair
) -> KeyUpdate:
    """Sign the public half of ``keys`` for its epoch."""
    parts = key_update_parts(circle_id, member, keys.epoch, int(suite), keys.public)
    sig = signer.sign("key-update", *parts)
    return KeyUpdate(circle_id, member, keys.epoch, int(suite), keys.public, sig)


def verify_key_update(
    sign_key: bytes, update: KeyUpdate, circle_id: bytes, epoch: int, suite: Suite
) -> EpochPublicKey:
    """Check a key_update from the member whose roster signing key is ``sign_key``.

    It must name this circle, the expected epoch and suite, and carry well-formed keys: in
    suite 2 always an ML-KEM key as well (the facilitator decides per commit whether to use
    it, and a removal can come at any time), in suite 1 none. Raises TamperedError otherwise.
    """
    crypto.verify(sign_key, update.sig, "key-update", *update.parts())
    if update.circle_id != circle_id or update.epoch != epoch or update.suite != int(suite):
        raise TamperedError("key_update is for another circle, epoch or suite")
    if len(update.public.x25519) != 32:
        raise TamperedError("key_update carries a malformed X25519 key")
    if update.public.mlkem and len(update.public.mlkem) != pq.PUBLIC_BYTES:
        raise TamperedError("key_update carries a malformed ML-KEM key")
    if (suite is Suite.X25519_MLKEM768) != bool(update.public.mlkem):
        raise TamperedError("key_update does not carry the keys its cipher suite needs")
    return update.public
