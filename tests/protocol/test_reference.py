"""The construction against outside references: hashlib and PyNaCl's own high-level API.

Built from PROTOCOL.md 5.1-5.5 as written, not from protocol/crypto.py, so a drift between the
documentation and the code fails here.
"""

from __future__ import annotations

import hashlib
import struct

import nacl.bindings
import nacl.public
import nacl.signing
import pytest

from protocol import crypto, limits
from protocol.crypto import BoxKeys, SigningKeys

KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("label", "context"),
    [("admission", b"circle-id-16byte"), ("knock", b""), ("epoch:roster", b"")],
)
def test_derive_key_is_keyed_blake2b_over_the_documented_input(label: str, context: bytes) -> None:
    data = b"circle:v1:" + label.encode() + b"\x00" + context
    expected = hashlib.blake2b(data, key=KEY, digest_size=32).digest()
    assert crypto.derive_key(KEY, label, context) == expected


def test_hash_and_fingerprint_are_unkeyed_blake2b() -> None:
    public = SigningKeys.from_seed(bytes(32)).public
    data = b"circle:v1:facilitator-fingerprint\x00" + public
    assert crypto.fingerprint(public) == hashlib.blake2b(data, digest_size=16).digest()


def test_transcript_matches_the_documented_encoding() -> None:
    expected = (
        (struct.pack(">I", 2) + b"ab" + struct.pack(">I", 8) + struct.pack(">q", -1))
        + struct.pack(">I", 3)
        + "é!".encode()
    )
    assert crypto.transcript(b"ab", -1, "é!") == expected


def test_signatures_verify_with_pynacl_over_the_labelled_transcript() -> None:
    keys = SigningKeys.from_seed(b"k" * 32)
    sig = keys.sign("resume", b"c" * 32, b"i" * 16, 5)
    message = crypto.transcript(b"circle:v1:resume", b"c" * 32, b"i" * 16, 5)
    nacl.signing.VerifyKey(keys.public).verify(message, sig)


def test_seal_to_is_a_libsodium_sealed_box() -> None:
    recipient = BoxKeys.from_seed(b"r" * 32)
    sealed = crypto.seal_to(recipient.public, b"epoch key material")
    assert len(sealed) == len(b"epoch key material") + crypto.BOX_OVERHEAD
    opened = nacl.public.SealedBox(nacl.public.PrivateKey(recipient.secret)).decrypt(sealed)
    assert opened == b"epoch key material"
    # ...and the other way: PyNaCl's sealed box opens with open_sealed.
    theirs = nacl.public.SealedBox(nacl.public.PublicKey(recipient.public)).encrypt(b"hello")
    assert crypto.open_sealed(recipient, theirs, "box") == b"hello"


def test_message_ciphertext_is_xchacha20_poly1305_ietf() -> None:
    nonce = b"n" * limits.NONCE_BYTES
    ad = crypto.message_ad(b"i" * 16, 1, 2, 3, "post")
    key = crypto.epoch_subkey(KEY, "message")
    _, ct, _ = crypto.seal_message(
        key, SigningKeys.from_seed(b"s" * 32), ad, b"hi", lambda n: nonce[:n]
    )
    padded = b"hi\x80" + bytes(limits.PAD_BUCKETS[0] - 3)
    expected = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, nonce, key)
    assert ct == expected
