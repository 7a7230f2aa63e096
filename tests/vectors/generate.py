"""Generate the known-answer vectors in this folder.

How they were made: every random value comes from :class:`DeterministicRandom`, a BLAKE2b
counter stream over a fixed seed, so the outputs depend only on Circle's construction and
libsodium. Run ``python -m tests.vectors.generate`` to rewrite them; ``test_vectors.py``
re-computes each one on every test run and also checks that the stored objects open. A change
that alters any vector changes the wire format: bump the protocol version.

The key-schedule vectors (``keyschedule.json``, PROTOCOL.md 9) need one input that cannot be
drawn from the stream: ``cryptography``'s ML-KEM encapsulation takes its randomness from OpenSSL.
``keyschedule_mlkem.json`` holds a recipient seed and one ciphertext made once by
``protocol.pq.encapsulate``; the vectors decapsulate it, so they stay reproducible. Delete that
file and run the generator to draw a new one (every hybrid vector then changes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from protocol import crypto, kem, pq, ratchet
from protocol import keyschedule as ks
from protocol.codec import pack
from protocol.content import PostContent, RosterContent, RosterEntry
from protocol.crypto import CircleSecrets, MemberKeys, SigningKeys
from protocol.group import NO_TRANSCRIPT, CircleCrypto, FacilitatorSigner
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
                "suite": invite.suite,
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
    """A suite-1 welcome (suite 2 would need OpenSSL's ML-KEM randomness), made by a real
    lead's state: epoch 0 opened, then a commit that admits member 2."""
    rng = DeterministicRandom(b"welcome")
    suite = kem.Suite.X25519
    circle_id = rng(16)
    facilitator = MemberKeys(sign=SigningKeys.generate(rng), box=crypto.BoxKeys.from_seed(rng(32)))
    joiner_seed_sign, joiner_seed_box, knock_seed = rng(32), rng(32), rng(32)
    joiner = MemberKeys(
        sign=SigningKeys.from_seed(joiner_seed_sign), box=crypto.BoxKeys.from_seed(joiner_seed_box)
    )
    knock = kem.EpochKeyPair.generate(0, False, lambda n: knock_seed[:n])
    fpr = crypto.fingerprint(facilitator.sign.public)
    lead = CircleCrypto(circle_id, 1, facilitator, facilitator.sign.public, fpr, rng, suite)
    entries = (
        RosterEntry(
            member=1,
            handle="calm-heron",
            sign_key=facilitator.sign.public,
            box_key=facilitator.box.public,
            role="facilitator",
        ),
        RosterEntry(
            member=2,
            handle="quiet-otter",
            sign_key=joiner.sign.public,
            box_key=joiner.box.public,
            role="member",
        ),
    )
    lead.start(RosterContent(circle_id, 1, 0, NO_TRANSCRIPT, entries[:1]))
    lead.key_update()
    roster = RosterContent(circle_id, 2, 1, lead.transcript_hash, entries)
    signer = FacilitatorSigner(circle_id, facilitator.sign, rng=rng)
    rekey, _, welcomes = signer.commit(lead, roster, {2: (0, knock.public)})
    lead.apply_rekey(rekey)
    body = welcomes[2]
    return [
        {
            "suite": int(suite),
            "circle_id": circle_id.hex(),
            "facilitator_seed": facilitator.sign.seed.hex(),
            "joiner_sign_seed": joiner_seed_sign.hex(),
            "joiner_box_seed": joiner_seed_box.hex(),
            "knock_x25519_seed": knock_seed.hex(),
            "member": 2,
            "epoch": body.epoch,
            "key": body.key,
            "secret": body.secret.hex(),
            "sealed": body.sealed.hex(),
            "sig": body.auth.sig.hex(),
            "transcript_hash": lead.transcript_hash.hex(),
            "digits": lead.fingerprint(),
        }
    ]


MLKEM_INPUT = HERE / "keyschedule_mlkem.json"


def make_mlkem_input() -> None:
    """Draw the one recorded ML-KEM ciphertext (see the module docstring)."""
    seed = DeterministicRandom(b"keyschedule-mlkem")(pq.SEED_BYTES)
    _shared, ciphertext = pq.encapsulate(pq.public_from_seed(seed))
    note = "ML-KEM-768 ciphertext made once by protocol.pq.encapsulate; decapsulated by vectors"
    data = {"note": note, "seed": seed.hex(), "ciphertext": ciphertext.hex()}
    MLKEM_INPUT.write_text(json.dumps(data, indent=2) + "\n")


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def keyschedule_vectors() -> list[dict[str, Any]]:
    """Suite 2 chain over three epochs, ratchet keys, combiner, and sealed commit entries."""
    rng = DeterministicRandom(b"keyschedule")
    suite = kem.Suite.X25519_MLKEM768
    circle_id = rng(16)
    signers = [SigningKeys.generate(rng) for _ in range(3)]
    roles = ("facilitator", "member", "member")
    handles = ("calm-heron", "quiet-otter", "brave-wren")
    out: list[dict[str, Any]] = []
    previous = ks.GENESIS
    secrets: ks.EpochSecrets | None = None
    for epoch in range(3):
        keys = [kem.EpochKeyPair.generate(epoch, hybrid=epoch != 1, rng=rng) for _ in range(3)]
        roster_hash = crypto.hash_bytes(
            "vector-roster",
            crypto.transcript(epoch, *handles, *roles, *(s.public for s in signers)),
        )
        digest = ks.commit_digest((i + 1, epoch, k.public.digest()) for i, k in enumerate(keys))
        th = ks.epoch_transcript(previous, circle_id, suite, epoch, roster_hash, digest)
        commit = rng(32)
        if secrets is None:
            joiner = ks.joiner_secret(ks.GENESIS, commit, suite, circle_id, 0, th)
            secrets = ks.EpochSecrets.first(commit, suite, circle_id, th)
        else:
            joiner = secrets.joiner_for_next(commit, th)
            secrets = secrets.advance(commit, th)
        sender_root = bytes(secrets._sender_root)
        chains = {}
        for sender in (1, 2):
            chain = ratchet.Chain(sender, ratchet.chain_start(sender_root, sender))
            chains[str(sender)] = [chain.step()[1].hex() for _ in range(3)]
        out.append(
            {
                "epoch": epoch,
                "commit_secret": commit.hex(),
                "roster_hash": roster_hash.hex(),
                "commit_digest": digest.hex(),
                "transcript_hash": th.hex(),
                "joiner_secret": joiner.hex(),
                "welcome_key": ks.welcome_key(joiner, circle_id, epoch).hex(),
                "roster_key": secrets.roster_key().hex(),
                "confirmation_tag": secrets.confirmation_tag().hex(),
                "authenticator": secrets.authenticator.hex(),
                "digits": secrets.digits(),
                "message_keys": chains,
            }
        )
        previous = th
    out[0]["circle_id"] = circle_id.hex()
    out[0]["sign_keys"] = [s.public.hex() for s in signers]

    # Sealed commit entries: one classic, one hybrid decapsulating the recorded ciphertext.
    recorded = json.loads(MLKEM_INPUT.read_text())
    seed, ct_m = bytes.fromhex(recorded["seed"]), bytes.fromhex(recorded["ciphertext"])
    x_seed = rng(32)
    x_secret, x_public = crypto.x25519_keypair(x_seed)
    recipient = kem.EpochPublicKey(x_public, pq.public_from_seed(seed))
    ad = kem.commit_ad(circle_id, 2, 5, suite)
    secret = rng(32)
    ss_m = pq.decapsulate(seed, ct_m)
    hybrid = kem.seal_encapsulated(recipient, secret, ad, (ss_m, ct_m), rng)
    classic = kem.seal_encapsulated(recipient, secret, ad, None, rng)
    out.append(
        {
            "sealed_commit": True,
            "x25519_seed": x_seed.hex(),
            "mlkem_seed": seed.hex(),
            "mlkem_public_blake2b": _digest(recipient.mlkem),
            "mlkem_shared": ss_m.hex(),
            "ad": ad.hex(),
            "secret": secret.hex(),
            "hybrid": hybrid.hex(),
            "classic": classic.hex(),
        }
    )
    inputs = [bytes([i]) * n for i, n in ((1, 32), (2, 32), (3, 1088), (4, 32), (5, 1184))]
    ss_m, ss_x, ct_m, ct_x, pk_m = inputs
    out.append(
        {
            "combine": "kind 2, ss_m 01*32, ss_x 02*32, ct_m 03*1088, ct_x 04*32, pk_m 05*1184",
            "pk_x": "06*32",
            "out": kem.combine(2, ss_m, ss_x, ct_m, ct_x, pk_m, b"\x06" * 32).hex(),
        }
    )
    # A member's signed key update (9.3): member 2 announces its key for epoch 4.
    x_seed, m_seed = rng(32), rng(pq.SEED_BYTES)
    seeds = iter((x_seed, m_seed))
    announced = kem.EpochKeyPair.generate(4, True, lambda n: next(seeds))
    update = kem.sign_key_update(signers[1], circle_id, 2, suite, announced)
    out.append(
        {
            "key_update": True,
            "member": 2,
            "key_epoch": 4,
            "x25519_seed": x_seed.hex(),
            "mlkem_seed": m_seed.hex(),
            "x25519_public": announced.public.x25519.hex(),
            "mlkem_public_blake2b": _digest(announced.public.mlkem),
            "sig": update.sig.hex(),
        }
    )
    return out


GENERATORS = {
    "invite": invite_vectors,
    "kdf": kdf_vectors,
    "admission": admission_vectors,
    "message": message_vectors,
    "welcome": welcome_vectors,
    "keyschedule": keyschedule_vectors,
}


def main() -> None:
    if not MLKEM_INPUT.exists():
        make_mlkem_input()
        print(f"wrote {MLKEM_INPUT}")
    for name, make in GENERATORS.items():
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(make(), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
