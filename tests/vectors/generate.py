"""Generate the known-answer vectors in this folder.

How they were made: every random value comes from :class:`DeterministicRandom`, a BLAKE2b
counter stream over a fixed seed, so the outputs depend only on Circle's construction and
libsodium. Run ``python -m tests.vectors.generate`` to rewrite them; ``test_vectors.py``
re-computes each one on every test run and also checks that the stored objects open. A change
that alters any vector changes the wire format: bump the protocol version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from protocol import crypto
from protocol.codec import pack
from protocol.content import PostContent, RosterContent, RosterEntry
from protocol.crypto import CircleSecrets, MemberKeys, SigningKeys
from protocol.group import FacilitatorSigner, roster_transcript
from protocol.invite import Invite

HERE = Path(__file__).parent


class DeterministicRandom:
    """rng(n) -> BLAKE2b(seed || counter) bytes: reproducible 'randomness' for vectors."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.blake2b(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]


def invite_vectors() -> list[dict[str, Any]]:
    rng = DeterministicRandom(b"invite")
    out = []
    for url in ("ws://127.0.0.1:8765", "wss://circle.example.org", "ws://[::1]:9000"):
        fpr = crypto.fingerprint(SigningKeys.generate(rng).public)
        invite = Invite.create(url, fpr, rng)
        out.append(
            {
                "server_url": url,
                "circle_id": invite.circle_id.hex(),
                "secret": invite.secret.hex(),
                "fingerprint": fpr.hex(),
                "invite": str(invite),
            }
        )
    return out


def kdf_vectors() -> list[dict[str, Any]]:
    key = bytes(range(32))
    cases = [("admission", b"circle-id-16byte"), ("knock", b""), ("epoch:message", b"")]
    out = [
        {
            "key": key.hex(),
            "label": label,
            "context": ctx.hex(),
            "out": crypto.derive_key(key, label, ctx).hex(),
        }
        for label, ctx in cases
    ]
    signing = SigningKeys.from_seed(bytes(32))
    out.append(
        {"fingerprint_of": signing.public.hex(), "out": crypto.fingerprint(signing.public).hex()}
    )
    return out


def admission_vectors() -> list[dict[str, Any]]:
    rng = DeterministicRandom(b"admission")
    secret, circle_id, challenge = rng(32), rng(16), rng(32)
    joiner = MemberKeys.generate(rng)
    secrets = CircleSecrets.from_secret(secret, circle_id)
    proof = crypto.admission_proof(
        secrets, challenge, circle_id, joiner.sign.public, joiner.box.public
    )
    return [
        {
            "secret": secret.hex(),
            "circle_id": circle_id.hex(),
            "challenge": challenge.hex(),
            "sign_key": joiner.sign.public.hex(),
            "box_key": joiner.box.public.hex(),
            "verifier": secrets.verifier.hex(),
            "proof": proof.hex(),
        }
    ]


def message_vectors() -> list[dict[str, Any]]:
    rng = DeterministicRandom(b"message")
    epoch_key, circle_id = rng(32), rng(16)
    sender = SigningKeys.generate(rng)
    out = []
    for seq, body in enumerate(("hello circle", "a" * 300, "ünïcödé ✓"), start=1):
        content = pack(PostContent(body=body, reply_to=None, warning=None, me=False).to_map())
        ad = crypto.message_ad(circle_id, 3, 7, seq, "post")
        key = crypto.epoch_subkey(epoch_key, "message")
        nonce, ct, sig = crypto.seal_message(key, sender, ad, content, rng)
        out.append(
            {
                "epoch_key": epoch_key.hex(),
                "circle_id": circle_id.hex(),
                "sender_seed": sender.seed.hex(),
                "epoch": 3,
                "sender": 7,
                "seq": seq,
                "kind": "post",
                "body": body,
                "nonce": nonce.hex(),
                "ct": ct.hex(),
                "sig": sig.hex(),
            }
        )
    return out


def welcome_vectors() -> list[dict[str, Any]]:
    rng = DeterministicRandom(b"welcome")
    circle_id = rng(16)
    facilitator = SigningKeys.generate(rng)
    joiner_seed_sign, joiner_seed_box = rng(32), rng(32)
    joiner = MemberKeys(
        sign=SigningKeys.from_seed(joiner_seed_sign), box=crypto.BoxKeys.from_seed(joiner_seed_box)
    )
    epoch_key = rng(32)
    prev = rng(32)
    roster = RosterContent(
        circle=circle_id,
        version=2,
        epoch=1,
        prev=prev,
        members=(
            RosterEntry(
                member=1,
                handle="calm-heron",
                sign_key=facilitator.public,
                box_key=rng(32),
                role="facilitator",
            ),
            RosterEntry(
                member=2,
                handle="quiet-otter",
                sign_key=joiner.sign.public,
                box_key=joiner.box.public,
                role="member",
            ),
        ),
    )
    signer = FacilitatorSigner(circle_id, facilitator, rng=rng)
    body = signer.welcome(2, joiner.sign.public, joiner.box.public, 1, epoch_key, roster)
    return [
        {
            "circle_id": circle_id.hex(),
            "facilitator_seed": facilitator.seed.hex(),
            "joiner_sign_seed": joiner_seed_sign.hex(),
            "joiner_box_seed": joiner_seed_box.hex(),
            "member": 2,
            "epoch": 1,
            "epoch_key": epoch_key.hex(),
            "prev": prev.hex(),
            "transcript_hash": roster_transcript(1, roster).hex(),
            "sealed": body.sealed.hex(),
            "sig": body.auth.sig.hex(),
        }
    ]


GENERATORS = {
    "invite": invite_vectors,
    "kdf": kdf_vectors,
    "admission": admission_vectors,
    "message": message_vectors,
    "welcome": welcome_vectors,
}


def main() -> None:
    for name, make in GENERATORS.items():
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(make(), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
