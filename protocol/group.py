"""A member's end-to-end state for one circle, and what a facilitator signs (PROTOCOL.md 5).

:class:`CircleCrypto` is pure state: it seals outgoing messages, opens incoming ones, tracks
epochs, the signed roster, and per-sender sequence numbers (duplicates dropped, gaps
reported). :class:`FacilitatorSigner` makes welcomes, rekeys, rosters and delegations. Neither
does I/O; the client core feeds them frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from protocol import crypto, limits
from protocol.codec import Struct, decode_struct, pack
from protocol.content import (
    KIND_CONTENT,
    InfoContent,
    KnockContent,
    RosterContent,
    RosterEntry,
    WelcomeContent,
)
from protocol.crypto import CircleSecrets, MemberKeys, Random, SigningKeys, system_random
from protocol.errors import (
    EpochError,
    LocalProtocolError,
    RemoteProtocolError,
    ReplayError,
    TamperedError,
    WrongFacilitatorError,
)
from protocol.frames import (
    Authority,
    Delegation,
    Envelope,
    Rekey,
    Relayed,
    Roster,
    SealedTo,
    WelcomeBody,
)

T = TypeVar("T", bound=Struct)

MessageId = tuple[int, int, int]
"""(sender, epoch, seq): unique within a circle."""


# --------------------------------------------------------------------------- sealed blobs

# Knocks, circle info, rosters and welcomes are padded like messages (PROTOCOL.md 5.9), with
# one last bucket that is exactly as large as a ``Sealed`` field allows after each
# construction's overhead, so padding never refuses what fitted unpadded.
SECRET_BUCKETS = limits.PAD_BUCKETS + (
    limits.MAX_SEALED - limits.NONCE_BYTES - crypto.AEAD_OVERHEAD,
)
"""Knock and info: ``nonce || AEAD`` (the knock always fits the first bucket)."""
ROSTER_BUCKETS = limits.PAD_BUCKETS + (limits.MAX_SEALED - crypto.AEAD_OVERHEAD,)
"""Roster: the nonce travels in its own field."""
BOX_BUCKETS = limits.PAD_BUCKETS + (limits.MAX_SEALED - crypto.BOX_OVERHEAD,)
"""Welcome: a sealed box."""

# Sealed boxes to one member outside the group key (PROTOCOL.md 5.9, section 8).
MOOD_BUCKETS = (limits.PAD_BUCKETS[0],)
"""A check-out mood: one size, so its length says nothing about which mood it is."""
CONCERN_BUCKETS = (limits.PAD_BUCKETS[0], limits.MAX_SEALED_TO - crypto.BOX_OVERHEAD)
"""A concern: the first bucket, or the whole ``SealedTo`` field."""
NOTE_BUCKETS = (*limits.PAD_BUCKETS[:2], limits.MAX_NOTE - crypto.BOX_OVERHEAD)
"""A private warning note: 256, 1,024, or the whole moderation ``note`` field."""


def seal_knock(
    secrets: CircleSecrets,
    circle_id: bytes,
    keys: MemberKeys,
    content: KnockContent,
    rng: Random = system_random,
) -> bytes:
    ad = crypto.transcript("knock", circle_id, keys.sign.public, keys.box.public)
    plain = crypto.pad(pack(content.to_map()), SECRET_BUCKETS)
    return crypto.seal_secret(secrets.knock_key, plain, ad, rng)


def open_knock(
    secrets: CircleSecrets, circle_id: bytes, sign_key: bytes, box_key: bytes, sealed: bytes
) -> KnockContent:
    ad = crypto.transcript("knock", circle_id, sign_key, box_key)
    plain = crypto.unpad(crypto.open_secret(secrets.knock_key, sealed, ad, "knock"), SECRET_BUCKETS)
    return _decode_inner(KnockContent, plain)


def seal_info(
    secrets: CircleSecrets,
    circle_id: bytes,
    facilitator_key: bytes,
    content: InfoContent,
    rng: Random = system_random,
) -> bytes:
    ad = crypto.transcript("info", circle_id, facilitator_key)
    plain = crypto.pad(pack(content.to_map()), SECRET_BUCKETS)
    return crypto.seal_secret(secrets.info_key, plain, ad, rng)


def open_info(
    secrets: CircleSecrets, circle_id: bytes, facilitator_key: bytes, sealed: bytes
) -> InfoContent:
    ad = crypto.transcript("info", circle_id, facilitator_key)
    padded = crypto.open_secret(secrets.info_key, sealed, ad, "circle info")
    plain = crypto.unpad(padded, SECRET_BUCKETS)
    return _decode_inner(InfoContent, plain)


def _decode_inner(cls: type[T], plain: bytes) -> T:
    try:
        return decode_struct(cls, plain, limits.MAX_SEALED)  # no sealed plaintext is larger
    except RemoteProtocolError:
        # Authenticated but malformed: a buggy or hostile member. Same outcome for the user.
        raise TamperedError(f"{cls.__name__} is not well-formed") from None


def _cert_tuple(cert: Delegation | None) -> tuple[int, bytes, str, bytes] | None:
    return None if cert is None else (cert.member, cert.key, cert.role, cert.sig)


def _welcome_parts(
    circle_id: bytes, member: int, sign_key: bytes, box_key: bytes, epoch: int, sealed: bytes
) -> tuple[bytes | int | str, ...]:
    return (circle_id, member, sign_key, box_key, epoch, sealed)


def _rekey_parts(circle_id: bytes, epoch: int, keys: Iterable[SealedTo]) -> tuple[bytes | int, ...]:
    parts: list[bytes | int] = [circle_id, epoch]
    for entry in keys:
        parts += [entry.member, entry.sealed]
    return tuple(parts)


def _rekey_plain(circle_id: bytes, member: int, epoch: int, key: bytes) -> bytes:
    return crypto.transcript("rekey-key", circle_id, member, epoch, key)


# --------------------------------------------------------------------------- sequence tracking


@dataclass(slots=True)
class SenderWindow:
    """Per-(sender, epoch) sequence state: numbers start at 1 in every epoch (S6)."""

    highest: int = 0
    missing: set[int] = field(default_factory=set)

    def accept(self, seq: int) -> tuple[list[int], bool]:
        """Record ``seq``; return (newly missing seqs, whether it filled an old gap).

        Raises ReplayError for a duplicate and RemoteProtocolError for an absurd jump.
        """
        if seq <= self.highest:
            if seq in self.missing:
                self.missing.discard(seq)
                return [], True
            raise ReplayError("duplicate message dropped")
        if seq - self.highest > limits.MAX_SEQ_JUMP:
            raise RemoteProtocolError("sequence number jumps too far ahead")
        new_gaps = list(range(self.highest + 1, seq))
        self.missing.update(new_gaps)
        while len(self.missing) > limits.MAX_OPEN_GAPS:
            self.missing.discard(min(self.missing))  # still shown as a gap; no longer fillable
        self.highest = seq
        return new_gaps, False


@dataclass(frozen=True, slots=True)
class Opened:
    """A verified, decrypted message with what it revealed about gaps."""

    kind: str
    sender: int
    epoch: int
    seq: int
    content: Struct
    new_gaps: tuple[int, ...] = ()
    filled_gap: bool = False

    @property
    def id(self) -> MessageId:
        return (self.sender, self.epoch, self.seq)


# --------------------------------------------------------------------------- member state


class CircleCrypto:
    """One member's keys and verified view of a circle (PROTOCOL.md 5.3-5.8)."""

    def __init__(
        self,
        circle_id: bytes,
        member: int,
        keys: MemberKeys,
        root_key: bytes,
        invite_fingerprint: bytes,
        rng: Random = system_random,
    ) -> None:
        crypto.check_authority(root_key, invite_fingerprint, root_key, None, circle_id)
        self.circle_id = circle_id
        self.member = member
        self.keys = keys
        self.root_key = root_key
        self.invite_fingerprint = invite_fingerprint
        self._rng = rng
        self.epoch = -1
        self._epoch_keys: dict[int, bytes] = {}
        self.roster: dict[int, RosterEntry] = {}
        self.roster_version = 0
        self._next_seq = 1
        self._windows: dict[tuple[int, int], SenderWindow] = {}
        self.removed = False

    # -- joining ---------------------------------------------------------------------------
    def start(self, epoch_key: bytes, roster: RosterContent) -> None:
        """The opener's own state: epoch 0 under a key it just drew, itself on the roster."""
        if not crypto.constant_time_equal(self.keys.sign.public, self.root_key):
            raise LocalProtocolError("only the facilitator who opened the circle starts it")
        self._set_epoch(0, epoch_key)
        self._set_roster(roster)

    def accept_welcome(self, body: WelcomeBody) -> WelcomeContent:
        """Verify the facilitator's signature and open the welcome (S2)."""
        self._check_authority(
            body.auth,
            _welcome_parts(
                self.circle_id,
                self.member,
                self.keys.sign.public,
                self.keys.box.public,
                body.epoch,
                body.sealed,
            ),
            "welcome",
        )
        padded = crypto.open_sealed(self.keys.box, body.sealed, "welcome")
        plain = crypto.unpad(padded, BOX_BUCKETS)
        content = _decode_inner(WelcomeContent, plain)
        if (
            content.circle != self.circle_id
            or content.member != self.member
            or content.epoch != body.epoch
            or content.roster.circle != self.circle_id
        ):
            raise TamperedError("welcome is for another circle, member or epoch")
        self._set_epoch(content.epoch, content.key)
        self._set_roster(content.roster)
        return content

    # -- epochs ----------------------------------------------------------------------------
    def _set_epoch(self, epoch: int, key: bytes) -> None:
        self._epoch_keys[epoch] = key
        self.epoch = epoch
        self._next_seq = 1
        for old in [e for e in self._epoch_keys if e < epoch - limits.EPOCH_RETENTION]:
            del self._epoch_keys[old]
        for wkey in [k for k in self._windows if k[1] not in self._epoch_keys]:
            del self._windows[wkey]

    def epoch_key(self, epoch: int) -> bytes:
        try:
            return self._epoch_keys[epoch]
        except KeyError:
            raise EpochError(f"no key for epoch {epoch}") from None

    @property
    def held_epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._epoch_keys))

    def apply_rekey(self, frame: Rekey) -> bool:
        """Move to the new epoch; returns False if this member was left out (removed, S5)."""
        if not self.epoch < frame.epoch <= self.epoch + limits.MAX_EPOCH_JUMP:
            raise EpochError(f"rekey to epoch {frame.epoch} from {self.epoch} refused")
        self._check_authority(
            frame.auth, _rekey_parts(self.circle_id, frame.epoch, frame.keys), "rekey"
        )
        mine = [entry for entry in frame.keys if entry.member == self.member]
        if not mine:
            self.removed = True
            self._epoch_keys.clear()
            return False
        plain = crypto.open_sealed(self.keys.box, mine[0].sealed, "rekey")
        prefix = _rekey_plain(self.circle_id, self.member, frame.epoch, b"")
        key = plain[len(prefix) :]
        if len(key) != limits.KEY_BYTES or plain != _rekey_plain(
            self.circle_id, self.member, frame.epoch, key
        ):
            raise TamperedError("rekey entry is for another circle, member or epoch")
        self._set_epoch(frame.epoch, key)
        return True

    # -- roster ----------------------------------------------------------------------------
    def apply_roster(self, frame: Roster) -> bool:
        """Verify and adopt a newer roster (S4). Older or equal versions are ignored."""
        parts = (self.circle_id, frame.version, frame.epoch, frame.nonce, frame.sealed)
        self._check_authority(frame.auth, parts, "roster")
        if frame.version <= self.roster_version:
            return False
        key = crypto.epoch_subkey(self.epoch_key(frame.epoch), "roster")
        ad = crypto.transcript("roster", self.circle_id, frame.version, frame.epoch)
        padded = crypto.aead_open(key, frame.sealed, ad, frame.nonce, "roster")
        plain = crypto.unpad(padded, ROSTER_BUCKETS)
        content = _decode_inner(RosterContent, plain)
        if content.circle != self.circle_id or content.version != frame.version:
            raise TamperedError("roster is for another circle or version")
        self._set_roster(content)
        return True

    def _set_roster(self, content: RosterContent) -> None:
        self.roster = {entry.member: entry for entry in content.members}
        self.roster_version = content.version

    def handle_of(self, member: int) -> str | None:
        entry = self.roster.get(member)
        return entry.handle if entry else None

    def fingerprint(self) -> str:
        """Short circle fingerprint members compare aloud (S4): 5 groups of 4 digits."""
        parts: list[bytes | int | str] = [self.circle_id, self.root_key]
        for member in sorted(self.roster):
            entry = self.roster[member]
            parts += [entry.member, entry.sign_key, entry.box_key, entry.role]
        digest = crypto.hash_bytes("circle-fingerprint", crypto.transcript(*parts), 10)
        number = int.from_bytes(digest, "big") % 10**20
        digits = f"{number:020d}"
        return " ".join(digits[i : i + 4] for i in range(0, 20, 4))

    def _check_authority(
        self, auth: Authority, parts: tuple[bytes | int | str, ...], label: str
    ) -> None:
        delegate = crypto.check_authority(
            self.root_key,
            self.invite_fingerprint,
            auth.signer,
            _cert_tuple(auth.cert),
            self.circle_id,
        )
        if delegate is not None and self.roster:
            entry = self.roster.get(delegate)
            if entry is None or entry.role == "member" or entry.sign_key != auth.signer:
                raise WrongFacilitatorError("signed by a co-facilitator who no longer is one")
        crypto.verify(auth.signer, auth.sig, label, *parts)

    # -- messages --------------------------------------------------------------------------
    def seal(self, kind: str, content: Struct) -> Envelope:
        """Seal and sign a message of ``kind`` from this member in the current epoch."""
        expected = KIND_CONTENT.get(kind)
        if expected is None or not isinstance(content, expected):
            raise LocalProtocolError(f"{kind!r} needs {expected.__name__ if expected else '?'}")
        if self.removed or self.epoch < 0:
            raise EpochError("no current epoch key: not (or no longer) in the circle")
        seq = self._next_seq
        key = crypto.epoch_subkey(self.epoch_key(self.epoch), "message")
        ad = crypto.message_ad(self.circle_id, self.epoch, self.member, seq, kind)
        nonce, ct, sig = crypto.seal_message(
            key, self.keys.sign, ad, pack(content.to_map()), self._rng
        )
        # Only a sealed message uses up its number: a failure must not look like a gap (S6).
        self._next_seq = seq + 1
        return Envelope(epoch=self.epoch, seq=seq, nonce=nonce, ct=ct, sig=sig)

    def open(self, frame: Relayed) -> Opened:
        """Verify, decrypt and de-duplicate a relayed message (S1, S3, S6)."""
        env = frame.env
        sender = self.roster.get(frame.sender)
        if sender is None:
            raise TamperedError("message from someone not on the roster")
        key = crypto.epoch_subkey(self.epoch_key(env.epoch), "message")
        ad = crypto.message_ad(self.circle_id, env.epoch, frame.sender, env.seq, frame.kind)
        plain = crypto.open_message(key, sender.sign_key, ad, env.nonce, env.ct, env.sig)
        content = _decode_inner(KIND_CONTENT[frame.kind], plain)
        window = self._windows.setdefault((frame.sender, env.epoch), SenderWindow())
        new_gaps, filled = window.accept(env.seq)
        return Opened(
            kind=frame.kind,
            sender=frame.sender,
            epoch=env.epoch,
            seq=env.seq,
            content=content,
            new_gaps=tuple(new_gaps),
            filled_gap=filled,
        )

    def open_gaps(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """Missing (sender, epoch) -> seqs: messages the server dropped or has not yet sent."""
        return {k: tuple(sorted(w.missing)) for k, w in self._windows.items() if w.missing}

    def wipe(self) -> None:
        """Drop keys and roster (F5). Python cannot zero memory; see SECURITY.md."""
        self._epoch_keys.clear()
        self.roster.clear()
        self._windows.clear()
        self.removed = True


# --------------------------------------------------------------------------- facilitator


class FacilitatorSigner:
    """Signs what only a facilitator may: welcomes, rekeys, rosters, delegations, moderation."""

    def __init__(
        self,
        circle_id: bytes,
        keys: SigningKeys,
        cert: Delegation | None = None,
        rng: Random = system_random,
    ) -> None:
        self.circle_id = circle_id
        self.keys = keys
        self.cert = cert
        self._rng = rng

    def _auth(self, label: str, *parts: bytes | int | str) -> Authority:
        return Authority(signer=self.keys.public, sig=self.keys.sign(label, *parts), cert=self.cert)

    def new_epoch_key(self) -> bytes:
        return self._rng(limits.KEY_BYTES)

    def welcome(
        self,
        member: int,
        sign_key: bytes,
        box_key: bytes,
        epoch: int,
        epoch_key: bytes,
        roster: RosterContent,
        pinned: str | None = None,
    ) -> WelcomeBody:
        content = WelcomeContent(
            circle=self.circle_id,
            member=member,
            epoch=epoch,
            key=epoch_key,
            roster=roster,
            pinned=pinned,
        )
        plain = crypto.pad(pack(content.to_map()), BOX_BUCKETS)
        sealed = crypto.seal_to(box_key, plain, self._rng)
        parts = _welcome_parts(self.circle_id, member, sign_key, box_key, epoch, sealed)
        return WelcomeBody(epoch=epoch, sealed=sealed, auth=self._auth("welcome", *parts))

    def rekey(self, epoch: int, epoch_key: bytes, recipients: Iterable[RosterEntry]) -> Rekey:
        """A new epoch key sealed to each recipient; whoever is not listed is cut off (S5)."""
        keys = tuple(
            SealedTo(
                member=r.member,
                sealed=crypto.seal_to(
                    r.box_key, _rekey_plain(self.circle_id, r.member, epoch, epoch_key), self._rng
                ),
            )
            for r in recipients
        )
        auth = self._auth("rekey", *_rekey_parts(self.circle_id, epoch, keys))
        return Rekey(epoch=epoch, keys=keys, auth=auth, rseq=None)

    def roster(self, content: RosterContent, epoch: int, epoch_key: bytes) -> Roster:
        nonce = self._rng(limits.NONCE_BYTES)
        key = crypto.epoch_subkey(epoch_key, "roster")
        ad = crypto.transcript("roster", self.circle_id, content.version, epoch)
        sealed = crypto.aead_seal(
            key, crypto.pad(pack(content.to_map()), ROSTER_BUCKETS), ad, nonce
        )
        auth = self._auth("roster", self.circle_id, content.version, epoch, nonce, sealed)
        return Roster(
            version=content.version, epoch=epoch, nonce=nonce, sealed=sealed, auth=auth, rseq=None
        )

    def delegate(self, member: int, key: bytes, role: str) -> Delegation:
        """Vouch for a co-facilitator's key (only the root facilitator key can, PROTOCOL.md 5.7)."""
        if self.cert is not None:
            raise LocalProtocolError("only the circle's original facilitator key can delegate")
        parts = crypto.delegation_parts(self.circle_id, member, key, role)
        return Delegation(
            member=member, key=key, role=role, sig=self.keys.sign("delegation", *parts)
        )
