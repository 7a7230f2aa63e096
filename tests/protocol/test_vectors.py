"""Known-answer vectors (tests/vectors/*.json): recomputed on every run, and opened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol import crypto
from protocol.codec import decode_struct
from protocol.content import PostContent, WelcomeContent
from protocol.crypto import BoxKeys, CircleSecrets, MemberKeys, SigningKeys
from protocol.frames import Authority, WelcomeBody
from protocol.group import CircleCrypto
from protocol.invite import Invite
from protocol.kem import Suite
from tests.vectors.generate import GENERATORS

VECTORS = Path(__file__).parent.parent / "vectors"


def load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_vectors_recompute_exactly(name: str) -> None:
    assert GENERATORS[name]() == load(name)


def test_invite_vectors_parse_back() -> None:
    for v in load("invite"):
        invite = Invite.parse(v["invite"])
        assert invite.circle_id.hex() == v["circle_id"]
        assert invite.secret.hex() == v["secret"]
        assert invite.facilitator_fingerprint.hex() == v["fingerprint"]
        assert invite.suite == v["suite"]


def test_admission_vector_verifies() -> None:
    (v,) = load("admission")
    secrets = CircleSecrets.from_secret(bytes.fromhex(v["secret"]), bytes.fromhex(v["circle_id"]))
    assert secrets.verifier.hex() == v["verifier"]
    args = [bytes.fromhex(v[k]) for k in ("challenge", "circle_id", "sign_key", "box_key")]
    crypto.verify_admission(bytes.fromhex(v["verifier"]), bytes.fromhex(v["proof"]), *args)


def test_message_vectors_open() -> None:
    for v in load("message"):
        key = crypto.epoch_subkey(bytes.fromhex(v["epoch_key"]), "message")
        ad = crypto.message_ad(
            bytes.fromhex(v["circle_id"]), v["epoch"], v["sender"], v["seq"], v["kind"]
        )
        sender = SigningKeys.from_seed(bytes.fromhex(v["sender_seed"]))
        plain = crypto.open_message(
            key,
            sender.public,
            ad,
            bytes.fromhex(v["nonce"]),
            bytes.fromhex(v["ct"]),
            bytes.fromhex(v["sig"]),
        )
        assert decode_struct(PostContent, plain).body == v["body"]


def test_welcome_vector_opens() -> None:
    (v,) = load("welcome")
    circle_id = bytes.fromhex(v["circle_id"])
    facilitator = SigningKeys.from_seed(bytes.fromhex(v["facilitator_seed"]))
    joiner = MemberKeys(
        sign=SigningKeys.from_seed(bytes.fromhex(v["joiner_sign_seed"])),
        box=BoxKeys.from_seed(bytes.fromhex(v["joiner_box_seed"])),
    )
    knock_seed = bytes.fromhex(v["knock_x25519_seed"])
    circle = CircleCrypto(
        circle_id,
        v["member"],
        joiner,
        facilitator.public,
        crypto.fingerprint(facilitator.public),
        lambda n: knock_seed[:n],  # the knock key is drawn from this member's rng
        Suite(v["suite"]),
    )
    circle.knock_key()
    body = WelcomeBody(
        epoch=v["epoch"],
        key=v["key"],
        secret=bytes.fromhex(v["secret"]),
        sealed=bytes.fromhex(v["sealed"]),
        auth=Authority(signer=facilitator.public, sig=bytes.fromhex(v["sig"]), cert=None),
    )
    content: WelcomeContent = circle.accept_welcome(body)
    assert content.epoch == v["epoch"]
    assert circle.roster[2].handle == "quiet-otter"
    assert circle.transcript_hash.hex() == v["transcript_hash"]
    assert circle.fingerprint() == v["digits"]  # the lead's digits, derived by the joiner
