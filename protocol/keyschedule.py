"""Chained epoch secrets, the transcript hash and the epoch authenticator (PROTOCOL.md 9).

Every epoch's secret is derived from the previous epoch's **init secret**, a fresh **commit
secret** the facilitator seals to the remaining members' fresh keys (``protocol.kem``), and the
**transcript hash** of the whole roster and epoch history, as in MLS (RFC 9420, section 8)::

    joiner_secret  = KDF(init_secret[e-1]; suite, circle, e, commit_secret[e], transcript[e])
    epoch_secret   = KDF(joiner_secret;    suite, circle, e, transcript[e])
    sender_root    = KDF(epoch_secret, "ks:sender-root")     -> per-sender ratchets (ratchet.py)
    roster_key     = KDF(epoch_secret, "ks:roster")
    confirm_key    = KDF(epoch_secret, "ks:confirm")         -> confirmation tag over transcript
    authenticator  = KDF(epoch_secret, "ks:authenticator")   -> the digits members compare
    init_secret[e] = KDF(epoch_secret, "ks:init")            -> the next epoch's chain input
    welcome_key    = KDF(joiner_secret, "ks:welcome")        -> seals a joiner's welcome

Objects that hold secrets keep them in bytearrays, forget them with ``wipe()``, and never print
them. Pure, sans-I/O; libsodium is reached only through ``protocol.crypto``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import crypto
from protocol.errors import CryptoError, EpochError, ForkError
from protocol.kem import Suite
from protocol.ratchet import EpochRatchets

GENESIS = bytes(32)
"""The "previous transcript hash" and "previous init secret" of epoch 0."""

KEY_RETENTION_EPOCHS = 1
"""Previous epochs whose receive ratchets a member keeps for late messages (9.7)."""

PQ_INTERVAL = 4
"""In suite 2, the longest run of epochs between post-quantum (ML-KEM) steps (9.4)."""


# --------------------------------------------------------------------------- transcript hash


def commit_digest(entries: Iterable[tuple[int, int, bytes]]) -> bytes:
    """The hash of a commit's sealed entries ``(member, key id, sealed)`` in member order."""
    ordered = sorted(entries)
    parts: list[bytes | int | str] = [len(ordered)]
    for member, key, sealed in ordered:
        parts += [member, key, sealed]
    return crypto.hash_bytes("ks:commit", crypto.transcript(*parts))


def epoch_transcript(
    previous: bytes,
    circle_id: bytes,
    suite: Suite,
    epoch: int,
    roster_hash: bytes,
    commit: bytes,
) -> bytes:
    """The transcript hash of ``epoch`` as the circle's epochs chain it (9.6).

    ``roster_hash`` covers the epoch's whole roster (version, ids, handles, roles, keys) and
    names ``previous`` itself; ``commit`` is :func:`commit_digest` of the sealed entries, each
    bound to the epoch key it was sealed to. Two members with equal hashes agree on every
    roster and commit since the circle opened (a joiner, since its welcome).
    """
    parts = crypto.transcript(previous, circle_id, int(suite), epoch, roster_hash, commit)
    return crypto.hash_bytes("ks:epoch-transcript", parts)


# --------------------------------------------------------------------------- derivations

_L_JOINER = crypto.kdf_label("ks:joiner")
_L_EPOCH = crypto.kdf_label("ks:epoch")
_L_WELCOME = crypto.kdf_label("ks:welcome")
_L_SENDER_ROOT = crypto.kdf_label("ks:sender-root")
_L_ROSTER = crypto.kdf_label("ks:roster")
_L_CONFIRM = crypto.kdf_label("ks:confirm")
_L_AUTH = crypto.kdf_label("ks:authenticator")
_L_INIT = crypto.kdf_label("ks:init")
_L_TAG = crypto.kdf_label("ks:confirmation-tag")


def joiner_secret(
    init_previous: bytes | bytearray,
    commit_secret: bytes,
    suite: Suite,
    circle_id: bytes,
    epoch: int,
    transcript: bytes,
) -> bytes:
    """``KDF(init_secret[e-1]; suite, circle, e, commit_secret, transcript)`` (9.4).

    BLAKE2b keyed with the previous init secret; the commit secret is in the input, so the
    result is secret if either is (BLAKE2b treated as a random oracle, as MLS treats HKDF).
    """
    if len(commit_secret) != 32:
        raise CryptoError("a commit secret is 32 bytes")
    ctx = crypto.transcript(int(suite), circle_id, epoch, commit_secret, transcript)
    return crypto.kdf(init_previous, _L_JOINER, ctx)


def welcome_key(joiner: bytes | bytearray, circle_id: bytes, epoch: int) -> bytes:
    """The key that seals a joiner's welcome content for ``epoch`` (9.4)."""
    return crypto.kdf(joiner, _L_WELCOME, crypto.transcript(circle_id, epoch))


def authenticator_digits(authenticator: bytes, epoch: int) -> str:
    """``epoch N · dddd dddd dddd dddd dddd``: 20 digits to compare aloud (9.6)."""
    value = int.from_bytes(authenticator[:10], "big") % 10**20
    digits = f"{value:020d}"
    return f"epoch {epoch} · " + " ".join(digits[i : i + 4] for i in range(0, 20, 4))


class EpochSecrets:
    """The secrets of one epoch (9.4); ``wipe()`` forgets them, ``repr`` never shows them."""

    __slots__ = (
        "suite",
        "circle_id",
        "epoch",
        "transcript",
        "authenticator",
        "_sender_root",
        "_roster_key",
        "_confirm_key",
        "_init",
    )

    def __init__(
        self,
        joiner: bytes | bytearray,
        suite: Suite,
        circle_id: bytes,
        epoch: int,
        transcript: bytes,
    ) -> None:
        ctx = crypto.transcript(int(suite), circle_id, epoch, transcript)
        epoch_secret = bytearray(crypto.kdf(joiner, _L_EPOCH, ctx))
        self.suite = suite
        self.circle_id = circle_id
        self.epoch = epoch
        self.transcript = transcript
        self._sender_root = bytearray(crypto.kdf(epoch_secret, _L_SENDER_ROOT))
        self._roster_key = bytearray(crypto.kdf(epoch_secret, _L_ROSTER))
        self._confirm_key = bytearray(crypto.kdf(epoch_secret, _L_CONFIRM))
        self._init = bytearray(crypto.kdf(epoch_secret, _L_INIT))
        self.authenticator = crypto.kdf(epoch_secret, _L_AUTH, transcript)
        crypto.wipe(epoch_secret)

    # -- making epochs ---------------------------------------------------------------------
    @classmethod
    def first(
        cls, commit_secret: bytes, suite: Suite, circle_id: bytes, transcript: bytes
    ) -> EpochSecrets:
        """Epoch 0, made by the opener from a commit secret it drew (no previous epoch)."""
        joiner = joiner_secret(GENESIS, commit_secret, suite, circle_id, 0, transcript)
        return cls(joiner, suite, circle_id, 0, transcript)

    @classmethod
    def from_welcome(
        cls, joiner: bytes, suite: Suite, circle_id: bytes, epoch: int, transcript: bytes
    ) -> EpochSecrets:
        """A joiner's first epoch, from the joiner secret sealed to its fresh epoch key."""
        return cls(joiner, suite, circle_id, epoch, transcript)

    def joiner_for_next(self, commit_secret: bytes, transcript: bytes) -> bytes:
        """The next epoch's joiner secret, for the facilitator to seal to new members.

        Call before :meth:`advance`, which forgets the init secret this needs.
        """
        self._require(self._init, "init secret")
        return joiner_secret(
            self._init, commit_secret, self.suite, self.circle_id, self.epoch + 1, transcript
        )

    def advance(self, commit_secret: bytes, transcript: bytes) -> EpochSecrets:
        """The next epoch from a fresh commit secret; this epoch's init secret is wiped."""
        joiner = bytearray(self.joiner_for_next(commit_secret, transcript))
        crypto.wipe(self._init)
        nxt = EpochSecrets(joiner, self.suite, self.circle_id, self.epoch + 1, transcript)
        crypto.wipe(joiner)
        return nxt

    # -- using an epoch ----------------------------------------------------------------------
    def ratchets(self, own: int, members: Iterable[int]) -> EpochRatchets:
        """Per-sender ratchets for every member; the sender root is wiped once they exist."""
        self._require(self._sender_root, "sender root")
        ratchets = EpochRatchets(self._sender_root, self.epoch, own, members)
        crypto.wipe(self._sender_root)
        return ratchets

    def roster_key(self) -> bytes:
        self._require(self._roster_key, "roster key")
        return bytes(self._roster_key)

    def confirmation_tag(self) -> bytes:
        """MAC over the transcript hash: the committer sends it, members check it (9.6)."""
        self._require(self._confirm_key, "confirmation key")
        return crypto.kdf(self._confirm_key, _L_TAG, self.transcript)

    def verify_confirmation(self, tag: bytes) -> None:
        """Raise ``errors.ForkError`` if the committer's tag shows another transcript or secret."""
        if not crypto.constant_time_equal(self.confirmation_tag(), tag):
            raise ForkError(
                "this circle's history differs from the facilitator's: someone may be showing "
                "members different circles. Compare the circle fingerprint out loud."
            )

    def digits(self) -> str:
        return authenticator_digits(self.authenticator, self.epoch)

    # -- forgetting --------------------------------------------------------------------------
    def wipe(self) -> None:
        for buffer in (self._sender_root, self._roster_key, self._confirm_key, self._init):
            crypto.wipe(buffer)

    @property
    def wiped(self) -> bool:
        buffers = (self._sender_root, self._roster_key, self._confirm_key, self._init)
        return not any(any(b) for b in buffers)

    def secret_buffers(self) -> Sequence[bytearray]:
        """Every secret buffer this object holds (for tests that look for key material)."""
        return (self._sender_root, self._roster_key, self._confirm_key, self._init)

    def _require(self, buffer: bytearray, what: str) -> None:
        if not any(buffer):
            raise EpochError(f"this epoch's {what} was already used and forgotten")

    def __repr__(self) -> str:
        return f"EpochSecrets(epoch={self.epoch}, suite={self.suite.name})"


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class EpochLimits:
    """When an epoch must end (9.5): after ``max_messages`` of any kind, from every
    sender, or ``max_seconds``, whichever comes first."""

    max_messages: int = 1000
    max_seconds: float = 15 * 60

    def due(self, messages: int, started: float, now: float) -> bool:
        """Whether the facilitator should commit a new epoch now."""
        return messages >= self.max_messages or now - started >= self.max_seconds


def needs_pq_step(
    suite: Suite, epoch: int, last_pq_epoch: int | None, membership_changed: bool
) -> bool:
    """Whether the commit into ``epoch`` must seal with ML-KEM as well (9.4).

    Suite 2 does the post-quantum step on every join, removal or leave, on the first epoch,
    and at least every :data:`PQ_INTERVAL` epochs; in between the chaining carries it.
    """
    if suite is Suite.X25519:
        return False
    if membership_changed or last_pq_epoch is None:
        return True
    return epoch - last_pq_epoch >= PQ_INTERVAL


class KeySchedule:
    """One member's chain of epochs: the current secrets, and receive ratchets for the
    current epoch and :data:`KEY_RETENTION_EPOCHS` before it; older ones are wiped (9.7)."""

    __slots__ = ("own", "current", "_ratchets")

    def __init__(self, own: int, first: EpochSecrets, members: Iterable[int]) -> None:
        self.own = own
        self.current = first
        self._ratchets: dict[int, EpochRatchets] = {first.epoch: first.ratchets(own, members)}

    def ratchets(self, epoch: int) -> EpochRatchets:
        try:
            return self._ratchets[epoch]
        except KeyError:
            raise EpochError("no keys for that epoch (too old, or not reached yet)") from None

    def advance(self, commit_secret: bytes, transcript: bytes, members: Iterable[int]) -> None:
        """Move to the next epoch; drop ratchets and secrets that fall out of retention."""
        nxt = self.current.advance(commit_secret, transcript)
        self._ratchets[nxt.epoch] = nxt.ratchets(self.own, members)
        self.current.wipe()
        self.current = nxt
        for epoch in [e for e in self._ratchets if e < nxt.epoch - KEY_RETENTION_EPOCHS]:
            self._ratchets.pop(epoch).wipe()

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._ratchets))

    def wipe(self) -> None:
        self.current.wipe()
        for ratchets in self._ratchets.values():
            ratchets.wipe()
        self._ratchets.clear()

    def __repr__(self) -> str:
        return f"KeySchedule(own={self.own}, epoch={self.current.epoch})"
