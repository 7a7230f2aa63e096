"""Signed frames the server checks: open, approval, join proof, resume, moderation (S2, F17).

Builders for the client side and verifiers for the server side live together so the signed
transcript is defined once (PROTOCOL.md 5.2, 5.6, 5.9).
"""

from __future__ import annotations

import dataclasses

from protocol import crypto
from protocol.crypto import SigningKeys
from protocol.errors import TamperedError
from protocol.frames import Approval, Delegation, LobbyEntry, Moderate, OpenCircle

Parts = tuple[bytes | int | str, ...]


def _open_parts(challenge: bytes, f: OpenCircle) -> Parts:
    return (
        challenge,
        f.circle,
        f.facilitator_key,
        f.verifier,
        f.info,
        f.minutes,
        f.capacity,
        int(f.auto_admit),
        int(f.listed),
        f.title or "",
        f.secret or b"",
    )


def sign_open(keys: SigningKeys, challenge: bytes, unsigned: OpenCircle) -> OpenCircle:
    """Return ``unsigned`` with its ``sig`` set: proof the opener holds the facilitator key."""
    return dataclasses.replace(unsigned, sig=keys.sign("open", *_open_parts(challenge, unsigned)))


def verify_open(challenge: bytes, frame: OpenCircle) -> None:
    crypto.verify(frame.facilitator_key, frame.sig, "open", *_open_parts(challenge, frame))


def approve(
    long_term: SigningKeys, challenge: bytes, circle_id: bytes, key: bytes, title: str = ""
) -> Approval:
    """A host-approved long-term key vouches for this circle's facilitator key (F22) and, for
    a listed circle, its title, so the lobby shows what the facilitator named it."""
    sig = long_term.sign("approval", challenge, circle_id, key, title)
    return Approval(key=long_term.public, sig=sig)


def verify_approval(challenge: bytes, frame: OpenCircle) -> bytes:
    """Return the approving long-term key, or raise TamperedError."""
    if frame.approval is None:
        raise TamperedError("no approval")
    approval = frame.approval
    title = frame.title or ""
    crypto.verify(
        approval.key,
        approval.sig,
        "approval",
        challenge,
        frame.circle,
        frame.facilitator_key,
        title,
    )
    return approval.key


def verify_listing(entry: LobbyEntry) -> bytes:
    """The host-approved key that vouches for a lobby entry's facilitator, or TamperedError.

    The entry repeats what the server checked at ``open`` (5.6): the long-term key's signature
    over the opener's challenge, the circle and its facilitator key.
    """
    approval, challenge = entry.approval, entry.challenge
    if approval is None or challenge is None:
        raise TamperedError("the entry carries no approval")
    if not crypto.constant_time_equal(crypto.fingerprint(entry.facilitator_key), entry.fingerprint):
        raise TamperedError("the entry's facilitator key does not match its fingerprint")
    crypto.verify(
        approval.key,
        approval.sig,
        "approval",
        challenge,
        entry.circle,
        entry.facilitator_key,
        entry.title,
    )
    return approval.key


def resume_proof(keys: SigningKeys, challenge: bytes, circle_id: bytes, member: int) -> bytes:
    return keys.sign("resume", challenge, circle_id, member)


def verify_resume(
    sign_key: bytes, proof: bytes, challenge: bytes, circle_id: bytes, member: int
) -> None:
    crypto.verify(sign_key, proof, "resume", challenge, circle_id, member)


def leave_proof(keys: SigningKeys, circle_id: bytes, member: int) -> bytes:
    """A member's own signature on its leaving (S3, S10): member ids are never reused, so it
    needs no nonce."""
    return keys.sign("leave", circle_id, member)


def verify_leave(sign_key: bytes, proof: bytes, circle_id: bytes, member: int) -> None:
    crypto.verify(sign_key, proof, "leave", circle_id, member)


def _moderation_parts(circle_id: bytes, f: Moderate) -> Parts:
    cert = f.cert
    return (
        circle_id,
        f.seq,
        f.action,
        f.target if f.target is not None else 0,
        f.minutes if f.minutes is not None else -1,
        f.seconds if f.seconds is not None else -1,
        b"".join(m.to_bytes(4, "big") for m in f.order),
        f.note or b"",
        f.key or b"",
        b"" if cert is None else cert.key + cert.sig + cert.member.to_bytes(4, "big"),
    )


def sign_moderate(
    keys: SigningKeys,
    circle_id: bytes,
    seq: int,
    action: str,
    *,
    target: int | None = None,
    minutes: int | None = None,
    seconds: int | None = None,
    order: tuple[int, ...] = (),
    note: bytes | None = None,
    key: bytes | None = None,
    cert: Delegation | None = None,
) -> Moderate:
    """Build and sign a moderation frame. ``seq`` must grow per signer (replay protection)."""
    unsigned = Moderate(
        action=action,
        target=target,
        minutes=minutes,
        seconds=seconds,
        order=order,
        note=note,
        key=key,
        cert=cert,
        seq=seq,
        signer=keys.public,
        sig=bytes(64),
    )
    return dataclasses.replace(
        unsigned, sig=keys.sign("moderate", *_moderation_parts(circle_id, unsigned))
    )


def verify_moderate(circle_id: bytes, frame: Moderate) -> None:
    """Check the signature only; the server's registry decides whether the signer may act."""
    crypto.verify(frame.signer, frame.sig, "moderate", *_moderation_parts(circle_id, frame))


def verify_delegation(root_key: bytes, circle_id: bytes, cert: Delegation) -> None:
    parts = crypto.delegation_parts(circle_id, cert.member, cert.key, cert.role)
    crypto.verify(root_key, cert.sig, "delegation", *parts)
