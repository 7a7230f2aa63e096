"""ML-KEM-768 (FIPS 203) from ``cryptography``; the only module importing it (PROTOCOL.md 9.2).

Circle draws every other primitive from libsodium (``protocol.crypto``); libsodium has no
ML-KEM, so the post-quantum half of the hybrid KEM comes from ``cryptography``'s wheels, which
link an OpenSSL with ML-KEM (OpenSSL 3.5 or later, or AWS-LC/BoringSSL). Where it is missing
(an older ``cryptography``, or one built against an older system OpenSSL) every function here
fails closed with :class:`PostQuantumUnavailableError` and a plain message; nothing falls back
to the classic suite silently.

Private keys are handled only as their 64-byte FIPS 203 seed (``d || z``), so callers can keep
it in a bytearray and wipe it; the library's key object lives only for one call.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import CryptoError, TamperedError

PUBLIC_BYTES = 1184
CIPHERTEXT_BYTES = 1088
SEED_BYTES = 64
SHARED_BYTES = 32
MIN_CRYPTOGRAPHY = "48"
"""The lowest ``cryptography`` whose official wheels ship ML-KEM-768 (PROTOCOL.md 9.2)."""

UNAVAILABLE = (
    "This circle uses post-quantum keys (ML-KEM-768), and this installation of Circle cannot "
    f"make them. Install cryptography {MIN_CRYPTOGRAPHY} or newer from its official wheels "
    f"(pip install --upgrade 'cryptography>={MIN_CRYPTOGRAPHY}') and try again."
)


class PostQuantumUnavailableError(CryptoError):
    """ML-KEM-768 is not available here; the circle's suite needs it, so nothing proceeds."""


def _load() -> Any:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
        from cryptography.hazmat.primitives.asymmetric import mlkem
    except ImportError:
        return None
    try:
        supported = bool(backend.mlkem_supported())
    except AttributeError:
        return None
    return mlkem if supported else None


_MLKEM: Any = _load()


def available() -> bool:
    """Whether ML-KEM-768 works in this installation."""
    return _MLKEM is not None


def require() -> None:
    """Raise :class:`PostQuantumUnavailableError` with the plain message if ML-KEM is missing."""
    if _MLKEM is None:
        raise PostQuantumUnavailableError(UNAVAILABLE)


def public_from_seed(seed: bytes | bytearray) -> bytes:
    """The 1,184-byte encapsulation key for a 64-byte seed (deterministic, FIPS 203 keygen)."""
    require()
    if len(seed) != SEED_BYTES:
        raise CryptoError("an ML-KEM-768 seed is 64 bytes")
    key = _MLKEM.MLKEM768PrivateKey.from_seed_bytes(bytes(seed))
    public: bytes = key.public_key().public_bytes_raw()
    return public


def encapsulate(public: bytes) -> tuple[bytes, bytes]:
    """Encapsulate to an encapsulation key: ``(shared_secret, ciphertext)``.

    The randomness comes from the library (OpenSSL's DRBG); it cannot be injected, so vectors
    record a ciphertext and check decapsulation instead (tests/vectors/README.md).
    """
    require()
    if len(public) != PUBLIC_BYTES:
        raise TamperedError("an ML-KEM-768 public key is 1,184 bytes")
    try:
        key = _MLKEM.MLKEM768PublicKey.from_public_bytes(public)
    except ValueError:
        raise TamperedError("an ML-KEM-768 public key is malformed") from None
    shared, ciphertext = key.encapsulate()
    return bytes(shared), bytes(ciphertext)


def decapsulate(seed: bytes | bytearray, ciphertext: bytes) -> bytes:
    """Decapsulate with the key made from ``seed``.

    A wrong-length ciphertext raises TamperedError; an altered one of the right length yields
    an unrelated secret (ML-KEM's implicit rejection), so the AEAD that follows rejects it.
    """
    require()
    if len(seed) != SEED_BYTES:
        raise CryptoError("an ML-KEM-768 seed is 64 bytes")
    if len(ciphertext) != CIPHERTEXT_BYTES:
        raise TamperedError("an ML-KEM-768 ciphertext is 1,088 bytes")
    key = _MLKEM.MLKEM768PrivateKey.from_seed_bytes(bytes(seed))
    try:
        shared: bytes = key.decapsulate(ciphertext)
    except ValueError:  # pragma: no cover - length is checked above
        raise TamperedError("an ML-KEM-768 ciphertext is malformed") from None
    return bytes(shared)
