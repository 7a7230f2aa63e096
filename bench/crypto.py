"""Key-schedule measurements (P4; PROTOCOL.md 9): ratcheted messages, a 50-member hybrid
rekey, and the bare libsodium / ML-KEM operations they are made of, in the same run.

    python -m bench.crypto        (also printed by python -m bench.client)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from protocol import crypto, kem, pq, ratchet
from protocol import keyschedule as ks
from protocol.codec import pack
from protocol.content import PostContent
from protocol.crypto import SigningKeys
from protocol.kem import EpochKeyPair, Suite

BODY = "I have not slept properly since the move and I keep pretending I am fine. " * 3
MEMBERS = 50

Row = tuple[str, list[float], str]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def message_rows(n: int = 2000) -> list[Row]:
    """A post sealed under its own ratchet key and signed; then verified and opened."""
    root = os.urandom(32)
    alice = ratchet.EpochRatchets(root, 1, 1, [1, 2])
    bob = ratchet.EpochRatchets(root, 1, 2, [1, 2])
    signer = SigningKeys.generate()
    content = pack(PostContent(body=BODY, reply_to=None, warning=None, me=False).to_map())
    circle_id = os.urandom(16)
    sealed: list[tuple[bytes, bytes, bytes, bytes]] = []

    def seal() -> None:
        seq, key = alice.next_send()
        ad = crypto.message_ad(circle_id, 1, 1, seq, "post")
        sealed.append((ad, *crypto.seal_message(key, signer, ad, content)))

    seal_times = timed(seal, n)
    queue = iter(enumerate(sealed, start=1))

    def open_() -> None:
        seq, (ad, nonce, ct, sig) = next(queue)
        crypto.open_message(bob.key_for(1, seq), signer.public, ad, nonce, ct, sig)
        bob.consume(1, seq)

    open_times = timed(open_, n)
    sender = ratchet.EpochRatchets(root, 2, 1, [1, 2])
    receiver = ratchet.EpochRatchets(root, 2, 2, [1, 2])
    send_step = timed(sender.next_send, n)
    counter = iter(range(1, n + 1))

    def receive_step() -> None:
        seq = next(counter)
        receiver.key_for(1, seq)
        receiver.consume(1, seq)

    receive = timed(receive_step, n)
    key = os.urandom(32)
    label = crypto.kdf_label("bench")
    return [
        ("seal + sign one message (ratchet key)", seal_times, "< 200 µs"),
        ("verify + open one message (ratchet key)", open_times, "< 200 µs"),
        ("ratchet step, sender (next key, old chain key wiped)", send_step, "< 10 µs"),
        ("ratchet step, receiver (look up + consume)", receive, "< 10 µs"),
        ("bare: one BLAKE2b-256 keyed (libsodium)", timed(lambda: crypto.kdf(key, label), n), ""),
    ]


def rekey_rows(n: int = 30) -> list[Row]:
    """The facilitator's commit for 50 members, and one member's side of it."""
    suite = Suite.X25519_MLKEM768
    circle_id = os.urandom(16)
    signer = SigningKeys.generate()
    keys = [EpochKeyPair.for_suite(1, suite) for _ in range(MEMBERS)]
    roster_hash = os.urandom(32)
    current = ks.EpochSecrets.first(os.urandom(32), suite, circle_id, ks.GENESIS)

    def commit(hybrid: bool) -> tuple[bytes, list[bytes]]:
        digest = ks.commit_digest((i + 1, 1, k.public.digest()) for i, k in enumerate(keys))
        th = ks.epoch_transcript(current.transcript, circle_id, suite, 1, roster_hash, digest)
        secret = os.urandom(32)
        sealed = [
            kem.seal_to_epoch_key(
                k.public, secret, kem.commit_ad(circle_id, i + 1, 1, suite), hybrid
            )
            for i, k in enumerate(keys)
        ]
        parts: list[bytes | int] = [circle_id, 1]
        for i, s in enumerate(sealed):
            parts += [i + 1, s]
        signer.sign("rekey", *parts)
        ks.EpochSecrets(current.joiner_for_next(secret, th), suite, circle_id, 1, th).ratchets(
            1, range(1, MEMBERS + 1)
        )
        return th, sealed

    hybrid = timed(lambda: commit(True), n)
    classic = timed(lambda: commit(False), n)
    th, sealed = commit(True)
    ad = kem.commit_ad(circle_id, 1, 1, suite)

    def member_side() -> None:
        secret = keys[0].open(sealed[0], ad)
        nxt = ks.EpochSecrets(current.joiner_for_next(secret, th), suite, circle_id, 1, th)
        nxt.ratchets(1, range(1, MEMBERS + 1))

    size = sum(len(s) for s in sealed)
    print(
        f"50-member hybrid rekey: {size:,} bytes of sealed entries "
        f"({len(sealed[0]):,} each; classic {kem.sealed_size(32, False)} each); "
        f"frame limit 65,536"
    )
    x_secret, _ = crypto.x25519_keypair(os.urandom(32))
    peer = keys[1].public.x25519
    mlkem_public = keys[1].public.mlkem
    seed = os.urandom(64)
    _, ct = pq.encapsulate(pq.public_from_seed(seed))
    return [
        ("rekey for 50 members, hybrid (50 ML-KEM + X25519, sign)", hybrid, "< 50 ms"),
        ("rekey for 50 members, X25519 only (between PQ steps)", classic, "< 50 ms"),
        ("member: open hybrid entry, derive epoch + 50 chains", timed(member_side, 200), ""),
        (
            "member: fresh epoch keys (X25519 + ML-KEM keygen)",
            timed(lambda: EpochKeyPair.for_suite(2, suite), 200),
            "",
        ),
        (
            "bare: one X25519 (libsodium crypto_scalarmult)",
            timed(lambda: crypto.x25519_shared(x_secret, peer), 2000),
            "",
        ),
        (
            "bare: one ML-KEM-768 encapsulation (cryptography)",
            timed(lambda: pq.encapsulate(mlkem_public), 2000),
            "",
        ),
        (
            "bare: one ML-KEM-768 decapsulation (cryptography)",
            timed(lambda: pq.decapsulate(seed, ct), 2000),
            "",
        ),
    ]


def bare_rows(n: int = 2000) -> list[Row]:
    signer = SigningKeys.generate()
    key, nonce = os.urandom(32), os.urandom(24)
    plain = crypto.pad(BODY.encode())
    ct = crypto.aead_seal(key, plain, b"ad", nonce)
    sig = signer.sign("x", BODY.encode())
    return [
        ("bare: one Ed25519 signature", timed(lambda: signer.sign("x", BODY.encode()), n), ""),
        (
            "bare: one Ed25519 verification",
            timed(lambda: crypto.verify(signer.public, sig, "x", BODY.encode()), n),
            "",
        ),
        (
            "bare: one XChaCha20-Poly1305 seal (1 KiB)",
            timed(lambda: crypto.aead_seal(key, plain, b"ad", nonce), n),
            "",
        ),
        (
            "bare: one XChaCha20-Poly1305 open (1 KiB)",
            timed(lambda: crypto.aead_open(key, ct, b"ad", nonce, "x"), n),
            "",
        ),
    ]


def keyschedule_rows(smoke: bool = False) -> list[Row]:
    """Every key-schedule row; ``smoke`` runs each a few times only, to prove it still runs."""
    pq.require()
    if smoke:
        return message_rows(20) + rekey_rows(2) + bare_rows(20)
    return message_rows() + rekey_rows() + bare_rows()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(rows: list[Row]) -> None:
    print("\n| measure | median | p99 | target |")
    print("|---|---:|---:|---|")
    for name, values, target in rows:
        med, p99 = statistics.median(values), pct(values, 0.99)
        unit, scale = ("µs", 1e6) if p99 < 1e-3 else ("ms", 1e3)
        print(f"| {name} | {med * scale:.1f} {unit} | {p99 * scale:.1f} {unit} | {target} |")


if __name__ == "__main__":
    print_table(keyschedule_rows())
