"""A member's end-to-end state for one circle, and what a facilitator signs (PROTOCOL.md 5).

:class:`CircleCrypto` is pure state: it seals outgoing messages, opens incoming ones, tracks
epochs, the signed roster, and per-sender sequence numbers (duplicates dropped, gaps
reported). :class:`FacilitatorSigner` makes welcomes, rekeys, rosters and delegations. Neither
does I/O; the client core feeds them frames.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypeVar

from protocol import crypto, kem, limits
from protocol import keyschedule as ks
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
    CryptoError,
    EpochError,
    ForkError,
    LocalProtocolError,
    RefusedRelayedError,
    RemoteProtocolError,
    ReplayError,
    TamperedError,
    WrongFacilitatorError,
)
from protocol.frames import (
    Authority,
    CommitEntry,
    Delegation,
    Envelope,
    KeyUpdate,
    Rekey,
    Relayed,
    Roster,
    WelcomeBody,
)
from protocol.kem import EpochKeyPair, EpochPublicKey, Suite
from protocol.names import handle_problem, skeleton
from protocol.ratchet import EpochRatchets

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

# Sealed boxes to one member outside the group key (PROTOCOL.md 5.9, section 8).
MOOD_BUCKETS = (limits.PAD_BUCKETS[0],)
"""A check-out mood: one size, so its length says nothing about which mood it is."""
CONCERN_BUCKETS = (limits.PAD_BUCKETS[0], limits.MAX_SEALED_TO - crypto.BOX_OVERHEAD)
"""A concern: the first bucket, or the whole ``SealedTo`` field."""
NOTE_BUCKETS = (*limits.PAD_BUCKETS[:2], limits.MAX_NOTE - crypto.BOX_OVERHEAD)
"""A private warning note: 256, 1,024, or the whole moderation ``note`` field."""


def _knock_ad(
    circle_id: bytes, sign_key: bytes, box_key: bytes, key_id: int, epoch_key: EpochPublicKey
) -> bytes:
    # The knock binds the joiner's epoch key, so the server cannot swap in its own and read
    # the welcome sealed to it (PROTOCOL.md 9.3).
    return crypto.transcript("knock", circle_id, sign_key, box_key, key_id, epoch_key.digest())


def seal_knock(
    secrets: CircleSecrets,
    circle_id: bytes,
    keys: MemberKeys,
    key_id: int,
    epoch_key: EpochPublicKey,
    content: KnockContent,
    rng: Random = system_random,
) -> bytes:
    ad = _knock_ad(circle_id, keys.sign.public, keys.box.public, key_id, epoch_key)
    plain = crypto.pad(pack(content.to_map()), SECRET_BUCKETS)
    return crypto.seal_secret(secrets.knock_key, plain, ad, rng)


def open_knock(
    secrets: CircleSecrets,
    circle_id: bytes,
    sign_key: bytes,
    box_key: bytes,
    key_id: int,
    epoch_key: EpochPublicKey,
    sealed: bytes,
) -> KnockContent:
    ad = _knock_ad(circle_id, sign_key, box_key, key_id, epoch_key)
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


# --------------------------------------------------------------------------- private boxes
# Concerns, check-out moods and warning notes go to one member outside the group key
# (PROTOCOL.md 5.9). Inside the box, the author proves who wrote it: a concern is signed by
# its sender; a check-out mood carries a tag under the epoch key, which shows it comes from
# a member (not the server) without saying which (F11). Both bind circle, epoch and
# recipient, so the server can neither forge one nor redirect it.

_EPOCH = 4
_SIG = 64
_TAG = 32


def seal_signed_to(
    keys: SigningKeys,
    circle_id: bytes,
    label: str,
    epoch: int,
    sender: int,
    recipient: RosterEntry,
    content: bytes,
    buckets: tuple[int, ...],
    rng: Random = system_random,
) -> bytes:
    sig = keys.sign(label, circle_id, epoch, sender, recipient.member, content)
    inner = epoch.to_bytes(_EPOCH, "big") + sig + content
    return crypto.seal_padded_to(recipient.box_key, inner, buckets, rng)


def open_signed(
    circle: CircleCrypto,
    sealed: bytes,
    buckets: tuple[int, ...],
    label: str,
    sender: int,
) -> tuple[int, bytes]:
    """Open a box sealed to this member and check its sender's signature: (epoch, content)."""
    inner = crypto.open_padded(circle.keys.box, sealed, buckets, label)
    entry = circle.roster.get(sender)
    if entry is None or len(inner) < _EPOCH + _SIG:
        raise TamperedError(f"the {label} is not from someone in the circle")
    epoch = int.from_bytes(inner[:_EPOCH], "big")
    sig, content = inner[_EPOCH : _EPOCH + _SIG], inner[_EPOCH + _SIG :]
    crypto.verify(
        entry.sign_key, sig, label, circle.circle_id, epoch, sender, circle.member, content
    )
    return epoch, content


def _member_tag(circle: CircleCrypto, epoch: int, recipient: int, content: bytes) -> bytes:
    key = crypto.epoch_subkey(circle.epoch_key(epoch), "checkout")
    return crypto.derive_key(
        key, "checkout-tag", crypto.transcript(circle.circle_id, epoch, recipient, content)
    )


def seal_member_to(
    circle: CircleCrypto,
    recipient: RosterEntry,
    content: bytes,
    buckets: tuple[int, ...],
    rng: Random = system_random,
) -> bytes:
    """Seal ``content`` to one member with a tag only members of this epoch can make."""
    tag = _member_tag(circle, circle.epoch, recipient.member, content)
    inner = circle.epoch.to_bytes(_EPOCH, "big") + tag + content
    return crypto.seal_padded_to(recipient.box_key, inner, buckets, rng)


def open_member(circle: CircleCrypto, sealed: bytes, buckets: tuple[int, ...]) -> bytes:
    """Open a box from ``seal_member_to`` and check its tag (TamperedError if forged)."""
    inner = crypto.open_padded(circle.keys.box, sealed, buckets, "check-out")
    if len(inner) < _EPOCH + _TAG:
        raise TamperedError("the check-out is not from a member")
    epoch = int.from_bytes(inner[:_EPOCH], "big")
    tag, content = inner[_EPOCH : _EPOCH + _TAG], inner[_EPOCH + _TAG :]
    try:
        expected = _member_tag(circle, epoch, circle.member, content)
    except EpochError:
        raise TamperedError("the check-out is for an epoch this member does not hold") from None
    if not crypto.constant_time_equal(tag, expected):
        raise TamperedError("the check-out is not from a member")
    return content


def _decode_inner(cls: type[T], plain: bytes) -> T:
    try:
        return decode_struct(cls, plain, limits.MAX_SEALED)  # no sealed plaintext is larger
    except RemoteProtocolError:
        # Authenticated but malformed: a buggy or hostile member. Same outcome for the user.
        raise TamperedError(f"{cls.__name__} is not well-formed") from None


def _cert_tuple(cert: Delegation | None) -> tuple[int, bytes, str, bytes] | None:
    return None if cert is None else (cert.member, cert.key, cert.role, cert.sig)


def _welcome_parts(
    circle_id: bytes,
    suite: Suite,
    member: int,
    sign_key: bytes,
    box_key: bytes,
    epoch_key: EpochPublicKey,
    body: WelcomeBody,
) -> tuple[bytes | int | str, ...]:
    """A welcome is signed over the cipher suite, the joiner's keys and everything sealed."""
    return (
        circle_id,
        int(suite),
        member,
        sign_key,
        box_key,
        epoch_key.digest(),
        body.epoch,
        body.key,
        body.secret,
        body.sealed,
    )


def _rekey_parts(
    circle_id: bytes,
    suite: Suite,
    epoch: int,
    prev: bytes,
    roster_hash: bytes,
    tag: bytes,
    keys: Iterable[CommitEntry],
) -> tuple[bytes | int, ...]:
    """A rekey is signed over the cipher suite and the transcript hash it follows (``prev``,
    PROTOCOL.md 9.6): it verifies only for members whose history is the signer's."""
    parts: list[bytes | int] = [circle_id, int(suite), epoch, prev, roster_hash, tag]
    for entry in keys:
        parts += [entry.member, entry.key, entry.sealed]
    return tuple(parts)


def welcome_ad(circle_id: bytes, member: int, epoch: int, suite: Suite) -> bytes:
    """Associated data of a joiner secret sealed to a joiner's epoch key (9.4)."""
    return crypto.transcript("circle:v1:kem:welcome", circle_id, member, epoch, int(suite))


def _welcome_content_ad(circle_id: bytes, member: int, epoch: int) -> bytes:
    return crypto.transcript("welcome", circle_id, member, epoch)


def _entry_kind(sealed: bytes) -> int:
    return sealed[0] if sealed else 0


# --------------------------------------------------------------------------- sequence tracking


@dataclass(slots=True)
class SenderWindow:
    """Per-(sender, epoch) sequence state: numbers start at 1 in every epoch (S6).

    Missing numbers are kept as sorted, disjoint ``[first, last]`` ranges, so a jump ahead
    costs one range, not one entry per number (PROTOCOL.md 5.5, gaps).
    """

    highest: int = 0
    _gaps: list[list[int]] = field(default_factory=list)
    _count: int = 0
    _refused: set[int] = field(default_factory=set)
    """Numbers the sender named as refused by the server: never relayed, so never to come."""
    _forgotten: int = 0
    """Numbers up to here may have been gaps forgotten over the cap: received or not, unknown."""

    @property
    def missing(self) -> frozenset[int]:
        """Every sequence number still missing (for inspection; bounded by MAX_OPEN_GAPS)."""
        return frozenset(n for first, last in self._gaps for n in range(first, last + 1))

    def gaps(self) -> tuple[int, ...]:
        return tuple(sorted(self.missing))

    def accept(self, seq: int, refused: Collection[int] = ()) -> tuple[list[int], bool]:
        """Record ``seq``; return (newly missing seqs, whether it filled an old gap).
        ``refused``: numbers its sender says the server refused, which are not gaps.

        Raises ReplayError for a duplicate, RefusedRelayedError for a number its sender was
        told the server refused, and RemoteProtocolError for an absurd jump.
        """
        if seq in self._refused:
            raise RefusedRelayedError("the server relayed a message it told its sender it refused")
        if seq <= self.highest:
            self._fill(seq)
            return [], True
        if seq - self.highest > limits.MAX_SEQ_JUMP:
            raise RemoteProtocolError("sequence number jumps too far ahead")
        new_gaps = [n for n in range(self.highest + 1, seq) if n not in refused]
        self._refused.update(n for n in refused if self.highest < n < seq)
        first = self.highest + 1
        for cut in [*sorted(n for n in refused if self.highest < n < seq), seq]:
            if first < cut:  # the missing numbers between refused ones, as ranges
                self._gaps.append([first, cut - 1])
            first = cut + 1
        self._count += len(new_gaps)
        self._forget_oldest()
        self.highest = seq
        return new_gaps, False

    def close(self, seqs: Iterable[int]) -> list[int]:
        """Older numbers the sender says the server refused: no longer gaps, and refused
        should they turn up after all. Returns those that had already arrived: the server
        relayed them to this member and told the sender it had not."""
        relayed = []
        for seq in seqs:
            if seq in self._refused or seq > self.highest:
                continue
            try:
                self._fill(seq)
                self._refused.add(seq)
            except ReplayError:
                if seq > self._forgotten:
                    relayed.append(seq)
        return relayed

    def _fill(self, seq: int) -> None:
        i = bisect_right(self._gaps, seq, key=itemgetter(0)) - 1
        if i < 0 or self._gaps[i][1] < seq:
            raise ReplayError("duplicate message dropped")
        first, last = self._gaps[i]
        pieces = [r for r in ([first, seq - 1], [seq + 1, last]) if r[0] <= r[1]]
        self._gaps[i : i + 1] = pieces
        self._count -= 1

    def _forget_oldest(self) -> None:
        """Over the cap, the oldest gaps are forgotten: already shown, no longer fillable."""
        excess = self._count - limits.MAX_OPEN_GAPS
        while excess > 0:
            first, last = self._gaps[0]
            size = last - first + 1
            if size <= excess:
                del self._gaps[0]
                self._count -= size
                excess -= size
                self._forgotten = max(self._forgotten, last)
            else:
                self._gaps[0][0] = first + excess
                self._count -= excess
                self._forgotten = max(self._forgotten, first + excess - 1)
                excess = 0


@dataclass(frozen=True, slots=True)
class Opened:
    """A verified, decrypted message with what it revealed about gaps."""

    kind: str
    sender: int
    epoch: int
    seq: int
    content: Struct
    new_gaps: tuple[int, ...] = ()
    relayed_refused: tuple[int, ...] = ()
    """Numbers this member received that their sender was told the server refused."""
    filled_gap: bool = False

    @property
    def id(self) -> MessageId:
        return (self.sender, self.epoch, self.seq)


# --------------------------------------------------------------------------- member state


@dataclass(frozen=True, slots=True, repr=False)
class PreparedCommit:
    """What the lead derived for a commit into ``epoch`` before signing it (9.4)."""

    epoch: int
    entries: tuple[CommitEntry, ...]
    prev: bytes
    roster_hash: bytes
    commit: bytes
    tag: bytes
    joiner: bytes
    """The epoch's joiner secret, sealed to each joiner; never kept."""
    epoch_key: bytes

    def __repr__(self) -> str:
        return f"PreparedCommit(epoch={self.epoch}, entries={len(self.entries)})"


NO_TRANSCRIPT = bytes(limits.KEY_BYTES)
"""The ``prev`` of a circle's first roster: there is no history before it."""


def roster_transcript(epoch: int, content: RosterContent) -> bytes:
    """The transcript hash after ``content`` (PROTOCOL.md 5.8): it covers the roster, its
    epoch and, through ``content.prev``, every roster before it."""
    return crypto.hash_bytes("roster-transcript", crypto.transcript(epoch, pack(content.to_map())))


class CircleCrypto:
    """One member's keys and verified view of a circle (PROTOCOL.md 5.3-5.8).

    Group state only moves forward, one step at a time: each rekey goes to exactly the next
    epoch and is signed over the transcript hash this member holds; each roster has exactly
    the next version and names that hash as ``prev`` (S10). Anything else raises
    :class:`~protocol.errors.ForkError` and changes nothing.
    """

    def __init__(
        self,
        circle_id: bytes,
        member: int,
        keys: MemberKeys,
        root_key: bytes,
        invite_fingerprint: bytes,
        rng: Random = system_random,
        suite: Suite = kem.DEFAULT_SUITE,
    ) -> None:
        crypto.check_authority(root_key, invite_fingerprint, root_key, None, circle_id)
        self.circle_id = circle_id
        self.member = member
        self.keys = keys
        self.root_key = root_key
        self.invite_fingerprint = invite_fingerprint
        self.suite = kem.check_suite(suite, int(suite))
        self._rng = rng
        self.epoch = -1
        self._epoch_keys: dict[int, bytes] = {}
        """Per epoch, the base key of its roster, message and check-out keys (5.5, 9.4)."""
        self._schedule: ks.EpochSecrets | None = None
        self._prev_transcript = NO_TRANSCRIPT  # the transcript hash the current epoch follows
        self._roster_hash = NO_TRANSCRIPT  # the roster the current epoch's commit named
        self.last_pq_epoch: int | None = None
        self._own_keys: dict[int, EpochKeyPair] = {}
        """This member's fresh epoch keys by id, kept until a commit sealed to a later one."""
        self.peer_keys: dict[int, tuple[int, EpochPublicKey]] = {}
        """The newest verified epoch key of each other member: (key id, public key)."""
        self.roster: dict[int, RosterEntry] = {}
        self.roster_content: RosterContent | None = None
        self.roster_version = 0
        self.transcript_hash = NO_TRANSCRIPT
        self._roster_epoch = -1  # the epoch the newest roster started
        self.keyed: set[int] = set()  # who holds the current epoch's key
        self._rosters_taken: dict[int, bytes] = {}  # version -> digest, to know a re-send
        self.ever_seated: dict[int, str] = {}
        """Member ids that were ever on a roster, with their handles: an id is never given
        to someone else, and notices about someone who has gone still name them."""
        self.root_left = False
        """The root facilitator signed its own leave: later rosters may go on without it."""
        self._ratchets: dict[int, EpochRatchets] = {}
        """Per epoch, every sender's hash ratchet (9.5), made when the epoch's roster is here."""
        self._sent: dict[tuple[int, int], tuple[str, Struct]] = {}
        """What this member sealed, by (epoch, seq), to show when the server relays it back:
        there is no receiving chain for oneself (9.5)."""
        self._windows: dict[tuple[int, int], SenderWindow] = {}
        self.removed = False

    # -- joining ---------------------------------------------------------------------------
    def start(self, roster: RosterContent) -> None:
        """The opener's own state: epoch 0 from a commit secret it draws and never sends."""
        if not crypto.constant_time_equal(self.keys.sign.public, self.root_key):
            raise LocalProtocolError("only the facilitator who opened the circle starts it")
        if roster.version != 1 or roster.epoch != 0 or roster.prev != NO_TRANSCRIPT:
            raise LocalProtocolError("a circle starts at roster version 1, epoch 0")
        roster_hash = roster_transcript(0, roster)
        transcript = ks.epoch_transcript(
            NO_TRANSCRIPT, self.circle_id, self.suite, 0, roster_hash, ks.commit_digest(())
        )
        commit_secret = self._rng(limits.SECRET_BYTES)
        self._enter(ks.EpochSecrets.first(commit_secret, self.suite, self.circle_id, transcript))
        self._prev_transcript, self._roster_hash = NO_TRANSCRIPT, roster_hash
        self.last_pq_epoch = 0  # the first secret never travels: nothing to break
        self._set_roster(roster)

    # -- this member's epoch keys (PROTOCOL.md 9.3) -------------------------------------------
    def newest_key(self) -> tuple[int, EpochPublicKey]:
        """This member's newest epoch key (id, public), which a knock announces; a first one
        (id 0) is drawn if there is none yet."""
        if not self._own_keys:
            self._own_keys[0] = EpochKeyPair.for_suite(0, self.suite, self._rng)
        key_id = max(self._own_keys)
        return key_id, self._own_keys[key_id].public

    def knock_key(self) -> EpochPublicKey:
        return self.newest_key()[1]

    def key_update(self) -> KeyUpdate | None:
        """A fresh epoch key for the next commit, signed; once per epoch (None if drawn)."""
        if self.removed or self.epoch < 0:
            return None
        key_id = self.epoch + 1
        if key_id in self._own_keys:
            return None
        pair = EpochKeyPair.for_suite(key_id, self.suite, self._rng)
        self._own_keys[key_id] = pair
        signed = kem.sign_key_update(self.keys.sign, self.circle_id, self.member, self.suite, pair)
        return KeyUpdate(
            epoch=key_id,
            x25519=pair.public.x25519,
            mlkem=pair.public.mlkem,
            sig=signed.sig,
            member=None,
            rseq=None,
        )

    def take_key_update(self, frame: KeyUpdate) -> bool:
        """Verify another member's key update and keep it if newer (False: nothing new).

        Signed with the member's roster key, so neither the server nor anyone else can make
        the lead seal the next commit secret to a key of its choosing (TamperedError).
        """
        entry = self.roster.get(frame.member) if frame.member is not None else None
        if entry is None or frame.member == self.member:
            return False
        public = EpochPublicKey(frame.x25519, frame.mlkem)
        update = kem.KeyUpdate(
            self.circle_id, entry.member, frame.epoch, int(self.suite), public, frame.sig
        )
        kem.verify_key_update(entry.sign_key, update, self.circle_id, frame.epoch, self.suite)
        held = self.peer_keys.get(entry.member)
        if held is not None and held[0] >= frame.epoch:
            return False
        self.peer_keys[entry.member] = (frame.epoch, public)
        return True

    def note_knock_key(self, member: int, key_id: int, public: EpochPublicKey) -> None:
        """A knock's epoch key (bound by the knock's seal): the newest the lead has for it."""
        held = self.peer_keys.get(member)
        if held is None or held[0] < key_id:
            self.peer_keys[member] = (key_id, public)

    def key_for(self, member: int) -> tuple[int, EpochPublicKey]:
        """The newest epoch key held for ``member`` (this member's own included)."""
        if member == self.member:
            return self.newest_key()
        held = self.peer_keys.get(member)
        if held is None:
            name = self.handle_of(member) or "a member"
            raise EpochError(
                f"the fresh keys of {name} have not arrived yet; try again in a moment"
            )
        return held

    def _open_sealed(self, key_id: int, sealed: bytes, ad: bytes, hybrid: bool, what: str) -> bytes:
        """Open a secret sealed to this member's epoch key ``key_id`` (kept, not yet wiped).

        A missing post-quantum part stays a SuiteError; any other failure is TamperedError.
        """
        pair = self._own_keys.get(key_id)
        if pair is None:
            raise TamperedError(f"{what} is sealed to an epoch key this member does not hold")
        try:
            return pair.open(sealed, ad, expect_hybrid=hybrid)
        except kem.SuiteError:
            raise
        except CryptoError:
            raise TamperedError(f"{what} could not be opened") from None

    def _next_epoch(
        self,
        schedule: ks.EpochSecrets,
        commit_secret: bytes,
        epoch: int,
        roster_hash: bytes,
        entries: Iterable[CommitEntry],
    ) -> tuple[bytes, bytes, ks.EpochSecrets]:
        """(commit digest, joiner secret, secrets) of the epoch a commit makes; ``schedule``
        keeps its init secret, so nothing changes until the caller adopts the result."""
        commit = ks.commit_digest((e.member, e.key, e.sealed) for e in entries)
        transcript = ks.epoch_transcript(
            self.transcript_hash, self.circle_id, self.suite, epoch, roster_hash, commit
        )
        joiner = schedule.joiner_for_next(commit_secret, transcript)
        nxt = ks.EpochSecrets.from_welcome(joiner, self.suite, self.circle_id, epoch, transcript)
        return commit, joiner, nxt

    def _used_key(self, key_id: int) -> EpochKeyPair:
        """This member's key ``key_id``; every older key is wiped, as no commit needs it."""
        pair = self._own_keys.get(key_id)
        if pair is None:
            raise TamperedError("sealed to an epoch key this member does not hold")
        for old in [k for k in self._own_keys if k < key_id]:
            self._own_keys.pop(old).wipe()
        return pair

    # -- commits (the lead, PROTOCOL.md 9.4) ------------------------------------------------
    def prepare_commit(self, roster: RosterContent, joiners: Iterable[int]) -> PreparedCommit:
        """Seal a fresh commit secret to every member of ``roster`` but the ``joiners``,
        each to its newest verified epoch key, and derive what the next epoch needs."""
        schedule = self._current()
        epoch = self.epoch + 1
        if roster.epoch != epoch or roster.prev != self.transcript_hash:
            raise LocalProtocolError("the roster does not follow this member's epoch")
        joining = set(joiners)
        keys = {e.member: self.key_for(e.member) for e in roster.members if e.member not in joining}
        changed = set(keys) != set(self.roster) or bool(joining)
        hybrid = ks.needs_pq_step(self.suite, epoch, self.last_pq_epoch, changed)
        # A join is a post-quantum step for everyone (the joiner's secret always is), so
        # every member, the joiner too, counts the same last post-quantum epoch.
        commit_secret = self._rng(limits.SECRET_BYTES)
        sealed = kem.seal_commit(
            {m: public for m, (_, public) in keys.items()},
            commit_secret,
            self.circle_id,
            epoch,
            self.suite,
            hybrid,
            self._rng,
        )
        entries = tuple(CommitEntry(member=m, key=keys[m][0], sealed=box) for m, box in sealed)
        roster_hash = roster_transcript(epoch, roster)
        commit, joiner, nxt = self._next_epoch(schedule, commit_secret, epoch, roster_hash, entries)
        try:
            return PreparedCommit(
                epoch=epoch,
                entries=entries,
                prev=self.transcript_hash,
                roster_hash=roster_hash,
                commit=commit,
                tag=nxt.confirmation_tag(),
                joiner=joiner,
                epoch_key=nxt.roster_key(),
            )
        finally:
            nxt.wipe()

    def accept_welcome(self, body: WelcomeBody) -> WelcomeContent:
        """Verify the facilitator's signature and open the welcome (S2).

        A seat is welcomed once, except to catch up: a member that missed a step of the
        history (its resume came too late to replay it) takes a fresh welcome from the lead,
        but only one that moves it forward, to a later epoch and roster version than it
        holds. An older or equal welcome is a replay or a rollback and changes nothing (S10).
        """
        if self.removed:
            raise ForkError("this member was already welcomed")
        if self.epoch >= 0 and body.epoch <= self.epoch:
            raise ForkError("a welcome that does not move this member forward")
        pair = self._own_keys.get(body.key)
        if pair is None:
            raise TamperedError("the welcome is sealed to an epoch key this member does not hold")
        parts = _welcome_parts(
            self.circle_id,
            self.suite,
            self.member,
            self.keys.sign.public,
            self.keys.box.public,
            pair.public,
            body,
        )
        delegate = self._check_signature(body.auth, parts, "welcome")
        ad = welcome_ad(self.circle_id, self.member, body.epoch, self.suite)
        hybrid = self.suite is Suite.X25519_MLKEM768
        joiner = self._open_sealed(body.key, body.secret, ad, hybrid, "the welcome")
        key = ks.welcome_key(joiner, self.circle_id, body.epoch)
        content_ad = _welcome_content_ad(self.circle_id, self.member, body.epoch)
        padded = crypto.open_secret(key, body.sealed, content_ad, "welcome")
        content = _decode_inner(WelcomeContent, crypto.unpad(padded, SECRET_BUCKETS))
        roster = content.roster
        if (
            content.circle != self.circle_id
            or content.member != self.member
            or content.epoch != body.epoch
            or roster.circle != self.circle_id
            or roster.epoch != content.epoch
        ):
            raise TamperedError("welcome is for another circle, member or epoch")
        entries = {e.member: e for e in roster.members}
        mine = entries.get(self.member)
        if (
            mine is None
            or mine.sign_key != self.keys.sign.public
            or mine.box_key != self.keys.box.public
        ):
            raise TamperedError("the welcome's roster does not seat this member with its keys")
        _check_roster_shape(roster)
        if self.epoch >= 0 and roster.version <= self.roster_version:
            raise ForkError("a welcome that does not move this member forward")
        # A delegated lead's welcome is checked against the roster the welcome carries.
        self._check_delegate(delegate, body.auth, entries)
        roster_hash = roster_transcript(content.epoch, roster)
        transcript = ks.epoch_transcript(
            roster.prev, self.circle_id, self.suite, content.epoch, roster_hash, content.commit
        )
        self._used_key(body.key)
        self._enter(
            ks.EpochSecrets.from_welcome(
                joiner, self.suite, self.circle_id, content.epoch, transcript
            )
        )
        self._prev_transcript, self._roster_hash = roster.prev, roster_hash
        self.last_pq_epoch = content.epoch  # a welcome always comes with a post-quantum step
        self._set_roster(roster)
        return content

    # -- epochs ----------------------------------------------------------------------------
    def _current(self) -> ks.EpochSecrets:
        if self._schedule is None or self.removed:
            raise EpochError("no current epoch: not (or no longer) in the circle")
        return self._schedule

    def _enter(self, secrets: ks.EpochSecrets) -> None:
        """Make ``secrets`` the current epoch; the previous epoch's secrets are wiped."""
        if self._schedule is not None:
            self._schedule.wipe()
        self._schedule = secrets
        self.transcript_hash = secrets.transcript
        epoch = secrets.epoch
        self._epoch_keys[epoch] = secrets.roster_key()
        self.epoch = epoch
        for old in [e for e in self._epoch_keys if e < epoch - limits.EPOCH_RETENTION]:
            del self._epoch_keys[old]
        for old in [e for e in self._ratchets if e not in self._epoch_keys]:
            self._ratchets.pop(old).wipe()
        for wkey in [k for k in self._windows if k[1] not in self._epoch_keys]:
            del self._windows[wkey]
        for sent in [k for k in self._sent if k[0] not in self._epoch_keys]:
            del self._sent[sent]

    @property
    def awaiting_roster(self) -> bool:
        """A rekey was taken and the roster that starts its epoch is not here yet: messages
        of this epoch wait for it (their senders' chains come from the roster)."""
        return self.epoch >= 0 and self._roster_epoch != self.epoch

    def epoch_key(self, epoch: int) -> bytes:
        try:
            return self._epoch_keys[epoch]
        except KeyError:
            raise EpochError(f"no key for epoch {epoch}") from None

    @property
    def held_epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._epoch_keys))

    def root_member(self) -> int | None:
        """The member id of the key that opened the circle, while it is on the roster."""
        for entry in self.roster.values():
            if crypto.constant_time_equal(entry.sign_key, self.root_key):
                return entry.member
        return None

    def apply_rekey(self, frame: Rekey) -> bool:
        """Move to the next epoch; returns False if this member was left out (removed, S5).

        The rekey must go to exactly the next epoch, be signed over the suite and this
        member's transcript hash, keep the root facilitator unless it left (S10), seal this
        member's commit secret to one of its own fresh keys, with ML-KEM whenever the epoch
        is a post-quantum step (9.4), and carry the confirmation tag of the epoch this member
        derives; a tag that differs is a fork (ForkError) and changes nothing.
        """
        if frame.epoch != self.epoch + 1 or self._roster_epoch != self.epoch:
            raise ForkError(f"rekey to epoch {frame.epoch} does not follow epoch {self.epoch}")
        schedule = self._current()
        parts = _rekey_parts(
            self.circle_id,
            self.suite,
            frame.epoch,
            self.transcript_hash,
            frame.roster,
            frame.tag,
            frame.keys,
        )
        delegate = self._check_signature(frame.auth, parts, "rekey")
        self._check_delegate(delegate, frame.auth, self.roster)
        recipients = [entry.member for entry in frame.keys]
        if len(set(recipients)) != len(recipients):
            raise TamperedError("a rekey names a member twice")
        root = self.root_member()
        if root is not None and root not in recipients and not self.root_left:
            raise TamperedError("a rekey may not leave out the facilitator who opened the circle")
        kinds = {_entry_kind(entry.sealed) for entry in frame.keys}
        if len(kinds) != 1:
            raise TamperedError("a rekey mixes post-quantum and classic entries")
        mine = [entry for entry in frame.keys if entry.member == self.member]
        if not mine:
            self.removed = True
            self._forget_keys()
            return False
        changed = set(recipients) != set(self.roster)
        hybrid = ks.needs_pq_step(self.suite, frame.epoch, self.last_pq_epoch, changed)
        ad = kem.commit_ad(self.circle_id, self.member, frame.epoch, self.suite)
        commit_secret = self._open_sealed(mine[0].key, mine[0].sealed, ad, hybrid, "the rekey")
        _, _, nxt = self._next_epoch(schedule, commit_secret, frame.epoch, frame.roster, frame.keys)
        try:
            nxt.verify_confirmation(frame.tag)
        except ForkError:
            nxt.wipe()
            raise
        self._used_key(mine[0].key)
        previous = self.transcript_hash
        self._enter(nxt)
        self._prev_transcript, self._roster_hash = previous, frame.roster
        if kinds == {kem.KIND_HYBRID}:
            self.last_pq_epoch = frame.epoch
        self.keyed = set(recipients)
        return True

    # -- roster ----------------------------------------------------------------------------
    def apply_roster(self, frame: Roster) -> bool:
        """Verify and adopt the next roster (S4, S10).

        The same roster again is ignored (False). A roster must have exactly the next
        version, start the epoch this member just entered (one roster per rekey, so nobody
        joins or leaves without a new key), name this member's transcript hash as
        ``prev``, keep every member's id, handle and keys, reuse no id, change roles only
        under the root key (a facilitator may demote), and keep the root facilitator unless
        it left. Anything else is refused.
        """
        parts = (self.circle_id, frame.version, frame.epoch, frame.nonce, frame.sealed)
        delegate = self._check_signature(frame.auth, parts, "roster")
        self._check_delegate(delegate, frame.auth, self.roster)
        if frame.version <= self.roster_version:
            if self._rosters_taken.get(frame.version) == _roster_digest(frame):
                return False  # the very roster taken before, sent again (a lead's resume)
            if frame.version == self.roster_version and frame.epoch == self.epoch:
                content = self._open_roster(frame)
                if roster_transcript(frame.epoch, content) == self._roster_hash:
                    return False  # the same roster again (an echo, or a resume)
                raise ForkError("a second, different roster for the same version")
            raise ForkError(f"roster version {frame.version} is older than the one held")
        if (
            frame.version != self.roster_version + 1
            or frame.epoch != self.epoch
            or self._roster_epoch == self.epoch  # every roster starts an epoch: a rekey first
        ):
            raise ForkError(
                f"roster version {frame.version} at epoch {frame.epoch} does not follow "
                f"version {self.roster_version} at epoch {self.epoch}"
            )
        content = self._open_roster(frame)
        if (
            content.prev != self._prev_transcript
            or content.epoch != frame.epoch
            or roster_transcript(frame.epoch, content) != self._roster_hash
        ):
            raise ForkError("the roster is not the one the key change named")
        _check_roster_shape(content)
        self._check_changes(content, delegate)
        self._set_roster(content)
        self._rosters_taken[frame.version] = _roster_digest(frame)
        for old in [v for v in self._rosters_taken if v < frame.version - 32]:
            del self._rosters_taken[old]
        return True

    def verify_roster_signature(self, frame: Roster) -> None:
        """Check who signed a roster before its epoch key is here (held frames, S10)."""
        parts = (self.circle_id, frame.version, frame.epoch, frame.nonce, frame.sealed)
        self._check_delegate(
            self._check_signature(frame.auth, parts, "roster"), frame.auth, self.roster
        )

    def _open_roster(self, frame: Roster) -> RosterContent:
        key = crypto.epoch_subkey(self.epoch_key(frame.epoch), "roster")
        ad = crypto.transcript("roster", self.circle_id, frame.version, frame.epoch)
        padded = crypto.aead_open(key, frame.sealed, ad, frame.nonce, "roster")
        content = _decode_inner(RosterContent, crypto.unpad(padded, ROSTER_BUCKETS))
        if content.circle != self.circle_id or content.version != frame.version:
            raise TamperedError("roster is for another circle or version")
        return content

    def _check_changes(self, content: RosterContent, delegate: int | None) -> None:
        root_signed = delegate is None
        lead_signed = delegate is None or self.roster[delegate].role == "facilitator"
        new = {entry.member: entry for entry in content.members}
        for member, entry in new.items():
            old = self.roster.get(member)
            if old is None:
                if member in self.ever_seated:
                    raise TamperedError("a roster gives a former member's id to someone else")
                if entry.role != "member" and not root_signed:
                    raise TamperedError("only the circle's own key can seat a facilitator")
                continue
            if (old.handle, old.sign_key, old.box_key) != (
                entry.handle,
                entry.sign_key,
                entry.box_key,
            ):
                raise TamperedError("a roster changes an existing member's handle or keys")
            if entry.role != old.role:
                if not lead_signed:
                    raise TamperedError("only the lead facilitator can change someone's role")
                if not root_signed and _rank(entry.role) > _rank(old.role):
                    raise TamperedError("only the circle's own key can promote someone")
        root = self.root_member()
        if root is not None and root not in new and not self.root_left:
            raise TamperedError("a roster may not drop the facilitator who opened the circle")

    def _set_roster(self, content: RosterContent) -> None:
        self.roster_content = content
        self.roster = {entry.member: entry for entry in content.members}
        self.roster_version = content.version
        self.ever_seated.update({m: e.handle for m, e in self.roster.items()})
        self.ever_seated.update({m: "" for m in content.former if m not in self.ever_seated})
        self.keyed = set(self.roster)
        self._roster_epoch = content.epoch
        schedule = self._schedule
        if schedule is not None and schedule.epoch == content.epoch:
            if content.epoch not in self._ratchets:  # the sender root is wiped once used
                self._ratchets[content.epoch] = schedule.ratchets(self.member, self.roster)
        for gone in [m for m in self.peer_keys if m not in self.roster]:
            del self.peer_keys[gone]

    def handle_of(self, member: int) -> str | None:
        entry = self.roster.get(member)
        return entry.handle if entry else None

    def fingerprint(self) -> str:
        """The epoch authenticator's digits members compare aloud (S4, PROTOCOL.md 9.6).

        Derived from the epoch secret and the transcript hash, so it changes with every
        epoch, only members can compute it, and two members who read the same digits for
        the same epoch hold the same secret and the same history: ids, handles, keys, roles,
        roster versions and commits.
        """
        digits = ks.authenticator_digits(self._current().authenticator, self.epoch)
        return digits.partition(" · ")[2]

    def _check_signature(
        self, auth: Authority, parts: tuple[bytes | int | str, ...], label: str
    ) -> int | None:
        """Verify ``auth`` over ``parts``; return the delegate's member id (None: root key)."""
        delegate = crypto.check_authority(
            self.root_key,
            self.invite_fingerprint,
            auth.signer,
            _cert_tuple(auth.cert),
            self.circle_id,
        )
        crypto.verify(auth.signer, auth.sig, label, *parts)
        return delegate

    def _check_delegate(
        self, delegate: int | None, auth: Authority, roster: dict[int, RosterEntry]
    ) -> None:
        """Welcomes, rekeys and rosters come from the lead alone (5.7): the root key, or the
        key the root handed the lead to, holding the lead's role with that key on ``roster``.
        A co-facilitator moderates but never signs the group's keys or membership."""
        if delegate is None:
            return
        entry = roster.get(delegate)
        cert = auth.cert
        if (
            entry is None
            or entry.role != "facilitator"
            or cert is None
            or cert.role != "facilitator"
            or entry.sign_key != auth.signer
        ):
            raise WrongFacilitatorError("signed by someone who does not lead the circle")

    def check_moderator(self, signer: bytes, lead_only: bool = False) -> RosterEntry:
        """The roster entry of a facilitator (or co-facilitator) signing key, or raise."""
        for entry in self.roster.values():
            if crypto.constant_time_equal(entry.sign_key, signer):
                if entry.role == "facilitator" or (entry.role == "co" and not lead_only):
                    return entry
                break
        raise WrongFacilitatorError("signed by someone who is not a facilitator")

    def is_lead_or_root(self, member: int) -> bool:
        """The lead facilitator, or the key that opened the circle: no co acts on them."""
        entry = self.roster.get(member)
        return entry is not None and (
            entry.role == "facilitator" or crypto.constant_time_equal(entry.sign_key, self.root_key)
        )

    def facilitators_now(self, exclude: int | None = None) -> list[RosterEntry]:
        """Facilitators and co-facilitators who hold the current epoch: with a rekey taken but
        its roster not yet here, one just left out is not sent anything private (S5)."""
        return [
            e
            for e in self.roster.values()
            if e.role in ("facilitator", "co") and e.member != exclude and e.member in self.keyed
        ]

    # -- messages --------------------------------------------------------------------------
    def seal(self, kind: str, content: Struct) -> Envelope:
        """Seal and sign a message of ``kind`` from this member in the current epoch, under
        the next key of its own hash ratchet (9.5)."""
        expected = KIND_CONTENT.get(kind)
        if expected is None or not isinstance(content, expected):
            raise LocalProtocolError(f"{kind!r} needs {expected.__name__ if expected else '?'}")
        if self.removed or self.epoch < 0:
            raise EpochError("no current epoch key: not (or no longer) in the circle")
        ratchets = self._ratchets.get(self.epoch)
        if ratchets is None:
            raise EpochError("this epoch's roster has not arrived yet; try again in a moment")
        plain = pack(content.to_map())
        crypto.pad(plain)  # too large fails here, before a number is used up (S6)
        seq, key = ratchets.next_send()
        ad = crypto.message_ad(self.circle_id, self.epoch, self.member, seq, kind)
        nonce, ct, sig = crypto.seal_message(key, self.keys.sign, ad, plain, self._rng)
        self._sent[(self.epoch, seq)] = (kind, content)
        return Envelope(epoch=self.epoch, seq=seq, nonce=nonce, ct=ct, sig=sig)

    def verify_sender(self, frame: Relayed) -> None:
        """Check a message's signature before its epoch key is here (held frames, S10)."""
        sender = self.roster.get(frame.sender)
        if sender is None:
            raise TamperedError("message from someone not on the roster")
        env = frame.env
        ad = crypto.message_ad(self.circle_id, env.epoch, frame.sender, env.seq, frame.kind)
        crypto.verify(sender.sign_key, env.sig, "message-sig", ad, env.nonce, env.ct)

    def open(self, frame: Relayed) -> Opened:
        """Verify, decrypt and de-duplicate a relayed message (S1, S3, S6).

        The key comes from the sender's ratchet and is deleted once the message opened; a
        forged message never burns a genuine key. This member's own messages come back as
        what it sealed (after their signature is checked).
        """
        env = frame.env
        sender = self.roster.get(frame.sender)
        if sender is None:
            raise TamperedError("message from someone not on the roster")
        ratchets = self._ratchets.get(env.epoch)
        if ratchets is None:
            raise EpochError(f"no keys for epoch {env.epoch}")
        window = self._windows.get((frame.sender, env.epoch))
        if env.seq - (window.highest if window else 0) > limits.MAX_SEQ_JUMP:
            raise RemoteProtocolError("sequence number jumps too far ahead")  # before any key
        ad = crypto.message_ad(self.circle_id, env.epoch, frame.sender, env.seq, frame.kind)
        if frame.sender == self.member:
            crypto.verify(sender.sign_key, env.sig, "message-sig", ad, env.nonce, env.ct)
            sent = self._sent.pop((env.epoch, env.seq), None)
            if sent is None or sent[0] != frame.kind:
                raise ReplayError("this member's own message, already shown")
            content: Struct = sent[1]
        else:
            key = ratchets.key_for(frame.sender, env.seq)
            plain = crypto.open_message(key, sender.sign_key, ad, env.nonce, env.ct, env.sig)
            content = _decode_inner(KIND_CONTENT[frame.kind], plain)
            ratchets.consume(frame.sender, env.seq)
        window = self._windows.setdefault((frame.sender, env.epoch), SenderWindow())
        # Numbers the server refused, the sender says (signed): not lost, never to come.
        refused = frozenset(getattr(content, "skipped", ()))
        older = [n for n in refused if n <= window.highest]
        new_gaps, filled = window.accept(env.seq, refused)
        relayed = window.close(older) if older else []
        return Opened(
            kind=frame.kind,
            sender=frame.sender,
            epoch=env.epoch,
            seq=env.seq,
            content=content,
            new_gaps=tuple(new_gaps),
            filled_gap=filled,
            relayed_refused=tuple(relayed),
        )

    def open_gaps(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """Missing (sender, epoch) -> seqs: messages the server dropped or has not yet sent."""
        return {k: w.gaps() for k, w in self._windows.items() if w.missing}

    def secret_material(self) -> list[bytes]:
        """Every secret this object holds now (for tests that look for key material)."""
        found = [bytes(key) for key in self._epoch_keys.values()]
        if self._schedule is not None:
            found += [bytes(b) for b in self._schedule.secret_buffers() if any(b)]
        for pair in self._own_keys.values():
            found += [bytes(b) for b in pair.secret_buffers() if any(b)]
        for ratchets in self._ratchets.values():
            found += [bytes(b) for b in ratchets.secret_buffers() if any(b)]
        return found

    def _forget_keys(self) -> None:
        if self._schedule is not None:
            self._schedule.wipe()
        self._schedule = None
        self._epoch_keys.clear()
        for ratchets in self._ratchets.values():
            ratchets.wipe()
        self._ratchets.clear()
        self._sent.clear()
        for pair in self._own_keys.values():
            pair.wipe()
        self._own_keys.clear()
        self.peer_keys.clear()

    def wipe(self) -> None:
        """Drop keys and roster (F5); secrets in bytearrays are overwritten (SECURITY.md)."""
        self._forget_keys()
        self.roster.clear()
        self.roster_content = None
        self.ever_seated.clear()
        self._windows.clear()
        self.removed = True


def _roster_digest(frame: Roster) -> bytes:
    return crypto.hash_bytes(
        "roster-seen", crypto.transcript(frame.epoch, frame.nonce, frame.sealed)
    )


def _rank(role: str) -> int:
    return ("member", "co", "facilitator").index(role)


def _check_roster_shape(content: RosterContent) -> None:
    """No id, key or look-alike handle twice on one roster, every handle in the handle
    alphabet, and at most one lead facilitator."""
    ids = [e.member for e in content.members]
    keys = [e.sign_key for e in content.members] + [e.box_key for e in content.members]
    if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
        raise TamperedError("a roster names the same member or key twice")
    handles = [e.handle for e in content.members]
    if any(handle_problem(h) is not None for h in handles):
        raise TamperedError("a roster holds a handle with hidden or look-alike characters")
    if len({skeleton(h) for h in handles}) != len(handles):
        raise TamperedError("a roster holds two handles that look alike")
    if sum(e.role == "facilitator" for e in content.members) > 1:
        raise TamperedError("a roster names two lead facilitators")


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

    def commit(
        self,
        circle: CircleCrypto,
        roster: RosterContent,
        joiners: dict[int, tuple[int, EpochPublicKey]],
        pinned: str | None = None,
    ) -> tuple[Rekey, Roster, dict[int, WelcomeBody]]:
        """A commit into the next epoch: the rekey for the remaining members, the roster
        sealed under the new epoch, and a welcome for each joiner sealed to the epoch key
        (key id, public key) its knock announced (PROTOCOL.md 9.4)."""
        prepared = circle.prepare_commit(roster, joiners)
        entries = {e.member: e for e in roster.members}
        parts = _rekey_parts(
            self.circle_id,
            circle.suite,
            prepared.epoch,
            prepared.prev,
            prepared.roster_hash,
            prepared.tag,
            prepared.entries,
        )
        rekey = Rekey(
            epoch=prepared.epoch,
            keys=prepared.entries,
            roster=prepared.roster_hash,
            tag=prepared.tag,
            auth=self._auth("rekey", *parts),
            rseq=None,
        )
        welcomes = {
            member: self._welcome(circle.suite, entries[member], key, prepared, roster, pinned)
            for member, key in joiners.items()
        }
        return rekey, self.roster(roster, prepared.epoch, prepared.epoch_key), welcomes

    def _welcome(
        self,
        suite: Suite,
        entry: RosterEntry,
        key: tuple[int, EpochPublicKey],
        prepared: PreparedCommit,
        roster: RosterContent,
        pinned: str | None,
    ) -> WelcomeBody:
        key_id, public = key
        epoch, member = prepared.epoch, entry.member
        secret = kem.seal_to_epoch_key(
            public,
            prepared.joiner,
            welcome_ad(self.circle_id, member, epoch, suite),
            suite is Suite.X25519_MLKEM768,
            self._rng,
        )
        content = WelcomeContent(
            circle=self.circle_id,
            member=member,
            epoch=epoch,
            commit=prepared.commit,
            roster=roster,
            pinned=pinned,
        )
        sealed = crypto.seal_secret(
            ks.welcome_key(prepared.joiner, self.circle_id, epoch),
            crypto.pad(pack(content.to_map()), SECRET_BUCKETS),
            _welcome_content_ad(self.circle_id, member, epoch),
            self._rng,
        )
        body = WelcomeBody(
            epoch=epoch, key=key_id, secret=secret, sealed=sealed, auth=self._auth("welcome")
        )
        parts = _welcome_parts(
            self.circle_id, suite, member, entry.sign_key, entry.box_key, public, body
        )
        return dataclasses.replace(body, auth=self._auth("welcome", *parts))

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
