"""Circle's cryptographic construction (PROTOCOL.md section 5): the only module importing nacl.

Primitives, all from libsodium through PyNaCl: Ed25519 signatures, X25519 + XSalsa20-Poly1305
boxes for key transport, XChaCha20-Poly1305-IETF for messages, BLAKE2b for hashing and keyed
key derivation, Argon2id for the optional facilitator key file. Every derived key has its own
label (``circle:v1:<label>``); every signature covers a length-prefixed transcript that starts
with its own label, so no key or signature can be used for two jobs.

Randomness is injected (``rng``) so tests can produce known-answer vectors. Failures raise
:class:`~protocol.errors.TamperedError` and friends, never with key material or plaintext.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.signing
from nacl.encoding import RawEncoder

from protocol import limits
from protocol.errors import CryptoError, TamperedError, WrongFacilitatorError

Random = Callable[[int], bytes]
"""Returns n random bytes; ``os.urandom`` by default, deterministic in tests."""

LABEL_PREFIX = b"circle:v1:"
AEAD_OVERHEAD = 16
BOX_OVERHEAD = 16 + 32  # Poly1305 tag + ephemeral public key


def system_random(n: int) -> bytes:
    return os.urandom(n)


# --------------------------------------------------------------------------- hashing, KDF


def transcript(*parts: bytes | int | str) -> bytes:
    """Unambiguous encoding of a list of values: each is a 4-byte length then its bytes.

    Integers are 8-byte big-endian (signed, so -1 can mean "absent"); strings are UTF-8.
    """
    out = bytearray()
    for part in parts:
        if isinstance(part, int):
            raw = part.to_bytes(8, "big", signed=True)
        elif isinstance(part, str):
            raw = part.encode()
        else:
            raw = bytes(part)
        out += len(raw).to_bytes(4, "big")
        out += raw
    return bytes(out)


def _label(label: str) -> bytes:
    return LABEL_PREFIX + label.encode()


def derive_key(key: bytes, label: str, context: bytes = b"", size: int = 32) -> bytes:
    """BLAKE2b keyed with ``key`` over ``circle:v1:<label> 0x00 context`` (PROTOCOL.md 5.1)."""
    data = _label(label) + b"\x00" + context
    digest: bytes = nacl.hash.blake2b(data, digest_size=size, key=key, encoder=RawEncoder)
    return digest


def hash_bytes(label: str, data: bytes, size: int = 32) -> bytes:
    """Unkeyed, labelled BLAKE2b."""
    digest: bytes = nacl.hash.blake2b(
        _label(label) + b"\x00" + data, digest_size=size, encoder=RawEncoder
    )
    return digest


def fingerprint(sign_key: bytes) -> bytes:
    """The 16-byte fingerprint of a facilitator's public signing key, carried in invites."""
    return hash_bytes("facilitator-fingerprint", sign_key, limits.FINGERPRINT_BYTES)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# --------------------------------------------------------------------------- key pairs


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """An Ed25519 key pair; ``seed`` is the 32-byte secret."""

    seed: bytes
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKeys:
        public, _secret = sodium.crypto_sign_seed_keypair(seed)
        return cls(seed=seed, public=public)

    @classmethod
    def generate(cls, rng: Random = system_random) -> SigningKeys:
        return cls.from_seed(rng(32))

    def sign(self, label: str, *parts: bytes | int | str) -> bytes:
        message = transcript(_label(label), *parts)
        signed = nacl.signing.SigningKey(self.seed).sign(message)
        signature: bytes = signed.signature
        return signature

    def __repr__(self) -> str:  # never print the seed
        return f"SigningKeys(public={self.public.hex()[:16]}...)"


@dataclass(frozen=True, slots=True)
class BoxKeys:
    """An X25519 key pair for receiving sealed keys."""

    secret: bytes
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> BoxKeys:
        public, secret = sodium.crypto_box_seed_keypair(seed)
        return cls(secret=secret, public=public)

    @classmethod
    def generate(cls, rng: Random = system_random) -> BoxKeys:
        return cls.from_seed(rng(32))

    def __repr__(self) -> str:
        return f"BoxKeys(public={self.public.hex()[:16]}...)"


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """A member's fresh per-circle identity: Ed25519 for signing, X25519 for key transport."""

    sign: SigningKeys
    box: BoxKeys

    @classmethod
    def generate(cls, rng: Random = system_random) -> MemberKeys:
        return cls(sign=SigningKeys.generate(rng), box=BoxKeys.generate(rng))


def verify(public: bytes, signature: bytes, label: str, *parts: bytes | int | str) -> None:
    """Check an Ed25519 signature over a labelled transcript; raise TamperedError if wrong."""
    message = transcript(_label(label), *parts)
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        raise TamperedError(f"{label} signature does not verify") from None


# --------------------------------------------------------------------------- symmetric AEAD


def aead_seal(key: bytes, plaintext: bytes, ad: bytes, nonce: bytes) -> bytes:
    """XChaCha20-Poly1305-IETF encryption."""
    ct: bytes = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
    return ct


def aead_open(key: bytes, ciphertext: bytes, ad: bytes, nonce: bytes, what: str) -> bytes:
    try:
        pt: bytes = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, ValueError, TypeError):
        raise TamperedError(f"{what} does not decrypt: altered, or not for this key") from None
    return pt


def seal_secret(key: bytes, plaintext: bytes, ad: bytes, rng: Random = system_random) -> bytes:
    """AEAD with a random nonce carried in front: ``nonce(24) || ciphertext``."""
    nonce = rng(limits.NONCE_BYTES)
    return nonce + aead_seal(key, plaintext, ad, nonce)


def open_secret(key: bytes, sealed: bytes, ad: bytes, what: str) -> bytes:
    if len(sealed) < limits.NONCE_BYTES + AEAD_OVERHEAD:
        raise TamperedError(f"{what} is too short")
    return aead_open(key, sealed[limits.NONCE_BYTES :], ad, sealed[: limits.NONCE_BYTES], what)


# --------------------------------------------------------------------------- sealed boxes


def seal_to(recipient: bytes, plaintext: bytes, rng: Random = system_random) -> bytes:
    """Anonymous public-key sealing (libsodium's sealed-box construction, rng injected).

    An ephemeral X25519 key pair is drawn from ``rng``; the nonce is
    BLAKE2b-192(ephemeral_pk || recipient_pk); output is ``ephemeral_pk || box``.
    """
    ephemeral = BoxKeys.from_seed(rng(32))
    nonce = nacl.hash.blake2b(
        ephemeral.public + recipient, digest_size=limits.NONCE_BYTES, encoder=RawEncoder
    )
    try:
        boxed: bytes = sodium.crypto_box(plaintext, nonce, recipient, ephemeral.secret)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, ValueError) as exc:
        raise CryptoError("cannot seal to this public key") from exc
    return ephemeral.public + boxed


def open_sealed(keys: BoxKeys, sealed: bytes, what: str) -> bytes:
    if len(sealed) < BOX_OVERHEAD:
        raise TamperedError(f"{what} is too short")
    ephemeral_pk = sealed[:32]
    nonce = nacl.hash.blake2b(
        ephemeral_pk + keys.public, digest_size=limits.NONCE_BYTES, encoder=RawEncoder
    )
    try:
        pt: bytes = sodium.crypto_box_open(sealed[32:], nonce, ephemeral_pk, keys.secret)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, ValueError, TypeError):
        raise TamperedError(f"{what} does not open: altered, or not for this member") from None
    return pt


def seal_padded_to(
    recipient: bytes, plaintext: bytes, buckets: tuple[int, ...], rng: Random = system_random
) -> bytes:
    """Pad ``plaintext`` to the smallest of ``buckets`` that fits, then seal it to a box key.

    Raises ``CryptoError`` if it fits none of them.
    """
    return seal_to(recipient, pad(plaintext, buckets), rng)


def open_padded(keys: BoxKeys, sealed: bytes, buckets: tuple[int, ...], what: str) -> bytes:
    """Open a box sealed by ``seal_padded_to``; any length but one of ``buckets`` is refused."""
    return unpad(open_sealed(keys, sealed, what), buckets)


# --------------------------------------------------------------------------- padding


def pad(data: bytes, buckets: tuple[int, ...] = limits.PAD_BUCKETS) -> bytes:
    """ISO/IEC 7816-4 padding (0x80 then zeros) up to the smallest bucket that fits (S1)."""
    for bucket in buckets:
        if len(data) + 1 <= bucket:
            return data + b"\x80" + bytes(bucket - len(data) - 1)
    raise CryptoError("message is too long to seal")


def unpad(data: bytes, buckets: tuple[int, ...] = limits.PAD_BUCKETS) -> bytes:
    if len(data) not in buckets:
        raise TamperedError("padded plaintext has an unexpected length")
    end = data.rstrip(b"\x00")
    if not end.endswith(b"\x80"):
        raise TamperedError("padding is malformed")
    return end[:-1]


# --------------------------------------------------------------------------- circle secret


@dataclass(frozen=True, slots=True)
class CircleSecrets:
    """What the invite's 256-bit circle secret yields, one key per purpose (PROTOCOL.md 5.2)."""

    admission: SigningKeys
    knock_key: bytes
    info_key: bytes

    @classmethod
    def from_secret(cls, secret: bytes, circle_id: bytes) -> CircleSecrets:
        if len(secret) != limits.SECRET_BYTES:
            raise CryptoError("a circle secret is 32 bytes")
        seed = derive_key(secret, "admission", circle_id)
        return cls(
            admission=SigningKeys.from_seed(seed),
            knock_key=derive_key(secret, "knock", circle_id),
            info_key=derive_key(secret, "info", circle_id),
        )

    @property
    def verifier(self) -> bytes:
        """The public admission key the server stores: it checks proofs, cannot make them."""
        return self.admission.public

    def __repr__(self) -> str:
        return "CircleSecrets(...)"


def admission_proof(
    secrets: CircleSecrets, challenge: bytes, circle_id: bytes, sign_key: bytes, box_key: bytes
) -> bytes:
    """Sign the server's fresh challenge with the admission key (S2), binding the joiner's keys."""
    return secrets.admission.sign("admission", challenge, circle_id, sign_key, box_key)


def verify_admission(
    verifier: bytes,
    proof: bytes,
    challenge: bytes,
    circle_id: bytes,
    sign_key: bytes,
    box_key: bytes,
) -> None:
    verify(verifier, proof, "admission", challenge, circle_id, sign_key, box_key)


# --------------------------------------------------------------------------- messages


def epoch_subkey(epoch_key: bytes, purpose: str) -> bytes:
    """Per-purpose keys from an epoch key: ``message`` and ``roster`` (PROTOCOL.md 5.5)."""
    return derive_key(epoch_key, f"epoch:{purpose}")


def message_ad(circle_id: bytes, epoch: int, sender: int, seq: int, kind: str) -> bytes:
    return transcript(_label("message"), circle_id, epoch, sender, seq, kind)


def seal_message(
    message_key: bytes,
    signer: SigningKeys,
    ad: bytes,
    content: bytes,
    rng: Random = system_random,
) -> tuple[bytes, bytes, bytes]:
    """Pad, encrypt under the epoch's message key, sign. Returns (nonce, ciphertext, sig)."""
    nonce = rng(limits.NONCE_BYTES)
    ct = aead_seal(message_key, pad(content), ad, nonce)
    return nonce, ct, signer.sign("message-sig", ad, nonce, ct)


def open_message(
    message_key: bytes, sender_key: bytes, ad: bytes, nonce: bytes, ct: bytes, sig: bytes
) -> bytes:
    """Verify the sender's signature, decrypt, unpad (S1, S3)."""
    verify(sender_key, sig, "message-sig", ad, nonce, ct)
    return unpad(aead_open(message_key, ct, ad, nonce, "message"))


# --------------------------------------------------------------------------- authority


def delegation_parts(
    circle_id: bytes, member: int, key: bytes, role: str
) -> tuple[bytes | int | str, ...]:
    return (circle_id, member, key, role)


def check_authority(
    root_key: bytes,
    invite_fingerprint: bytes,
    signer: bytes,
    cert: tuple[int, bytes, str, bytes] | None,
    circle_id: bytes,
) -> int | None:
    """Accept ``signer`` if it is the invite's facilitator key or delegated by it (S2, S4).

    ``cert`` is ``(member, key, role, sig)``. Returns the delegate's member id, or None for
    the root key itself. Raises WrongFacilitatorError otherwise.
    """
    if not constant_time_equal(fingerprint(root_key), invite_fingerprint):
        raise WrongFacilitatorError(
            "the facilitator key does not match the fingerprint in the invite"
        )
    if constant_time_equal(signer, root_key):
        return None
    if cert is None:
        raise WrongFacilitatorError("signed by a key the facilitator never delegated to")
    member, key, role, sig = cert
    if not constant_time_equal(key, signer):
        raise WrongFacilitatorError("the delegation is for another key")
    try:
        verify(root_key, sig, "delegation", *delegation_parts(circle_id, member, key, role))
    except TamperedError:
        raise WrongFacilitatorError("the delegation is not signed by the facilitator") from None
    return member


# --------------------------------------------------------------------------- key file (F22)

KEYFILE_MAGIC = b"circle-facilitator-key-v1\n"


def lock_seed(seed: bytes, passphrase: str, rng: Random = system_random) -> bytes:
    """Encrypt a long-term facilitator seed under Argon2id(passphrase) for the key file."""
    salt = rng(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(
        32,
        passphrase.encode(),
        salt,
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
    )
    return KEYFILE_MAGIC + salt + seal_secret(key, seed, KEYFILE_MAGIC, rng)


def unlock_seed(blob: bytes, passphrase: str) -> bytes:
    if not blob.startswith(KEYFILE_MAGIC):
        raise CryptoError("this is not a Circle facilitator key file")
    rest = blob[len(KEYFILE_MAGIC) :]
    salt, sealed = rest[: nacl.pwhash.argon2id.SALTBYTES], rest[nacl.pwhash.argon2id.SALTBYTES :]
    key = nacl.pwhash.argon2id.kdf(
        32,
        passphrase.encode(),
        salt,
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
    )
    try:
        return open_secret(key, sealed, KEYFILE_MAGIC, "key file")
    except TamperedError:
        raise CryptoError("wrong passphrase, or the key file is damaged") from None


# --------------------------------------------------------------------------- key schedule (9)
# Primitives for the key schedule (PROTOCOL.md 9): raw X25519 for the hybrid KEM, a fast
# labelled BLAKE2b for ratchet steps, and in-place wiping of secrets held in bytearrays.

try:  # PyNaCl's cffi handle to libsodium; kept with the code that uses it
    from nacl._sodium import ffi as _ffi  # noqa: E402
    from nacl._sodium import lib as _lib  # noqa: E402
except ImportError:  # pragma: no cover - a PyNaCl without it: the public binding, slower
    _ffi = _lib = None


def x25519_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """An X25519 key pair ``(secret, public)`` from a 32-byte seed (libsodium's seed keypair)."""
    if len(seed) != 32:
        raise CryptoError("an X25519 seed is 32 bytes")
    public, secret = sodium.crypto_box_seed_keypair(bytes(seed))
    return secret, public


def x25519_shared(secret: bytes | bytearray, public: bytes) -> bytes:
    """Raw X25519 (crypto_scalarmult); refuses low-order points (an all-zero result)."""
    if len(public) != 32:
        raise TamperedError("an X25519 public key is 32 bytes")
    try:
        shared: bytes = sodium.crypto_scalarmult(bytes(secret), public)
    except (nacl.exceptions.CryptoError, nacl.exceptions.RuntimeError, ValueError, TypeError):
        raise TamperedError("an X25519 public key is not usable") from None
    if not any(shared):  # pragma: no cover - libsodium already rejects the all-zero result
        raise TamperedError("an X25519 public key is not usable")
    return shared


def kdf(key: bytes | bytearray, label: bytes, context: bytes = b"", size: int = 32) -> bytes:
    """``derive_key`` with a pre-encoded label (``circle:v1:<label> 0x00``), for hot paths.

    Same output as ``derive_key(key, label_text, context, size)`` (PROTOCOL.md 5.1). It calls
    libsodium's ``crypto_generichash_blake2b_salt_personal`` through PyNaCl's cffi handle
    directly: the public binding's per-call checks cost about 4 µs, the whole budget of a
    ratchet step (9.5).
    """
    if not 16 <= len(key) <= 64 or not 16 <= size <= 64:
        raise CryptoError("a key-derivation key and output are 16 to 64 bytes")
    data = label + context
    if _lib is None:
        slow: bytes = sodium.crypto_generichash_blake2b_salt_personal(
            data, digest_size=size, key=bytes(key)
        )
        return slow
    out = _ffi.new("unsigned char[]", size)
    rc = _lib.crypto_generichash_blake2b_salt_personal(
        out, size, data, len(data), bytes(key), len(key), _ffi.NULL, _ffi.NULL
    )
    if rc != 0:  # pragma: no cover - only for arguments checked above
        raise CryptoError("key derivation failed")
    digest: bytes = _ffi.buffer(out, size)[:]
    return digest


def kdf_label(label: str) -> bytes:
    """The encoded label prefix ``kdf`` expects: ``circle:v1:<label> 0x00``."""
    return _label(label) + b"\x00"


def wipe(buffer: bytearray) -> None:
    """Overwrite a secret held in a bytearray with zeros, in place (PROTOCOL.md 9.7)."""
    buffer[:] = bytes(len(buffer))
