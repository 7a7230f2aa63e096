"""Every frame exchanged between clients and server, as typed frozen classes over msgpack.

A frame on the wire is one websocket binary message holding one msgpack map: ``{"t": TYPE,
...fields}`` with string keys only. :func:`decode_frame` applies hard limits before and while
unpacking and validates every field; it raises only :class:`~protocol.errors.RemoteProtocolError`
(and its subclasses). PROTOCOL.md section 3 documents each frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from protocol import limits
from protocol.codec import (
    Bool,
    Bytes,
    Float,
    Int,
    ListOf,
    Nested,
    Opt,
    Str,
    Struct,
    pack,
    spec,
    unpack,
    wrap_field_errors,
)
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

__all__ = [
    "FRAME_TYPES",
    "Frame",
    "action_phase",
    "decode_frame",
    "encode_frame",
    "phase_action",
]

CircleId = Bytes(limits.ID_BYTES)
Key = Bytes(limits.KEY_BYTES)
Sig = Bytes(limits.SIG_BYTES)
MemberId = Int(1, limits.MAX_MEMBER_ID)
Epoch = Int(0, limits.MAX_EPOCH)
Seq = Int(0, limits.MAX_SEQ)
Sealed = Bytes(max_len=limits.MAX_SEALED)

MESSAGE_KINDS = ("post", "react", "retract", "pin")
PHASES = ("check-in", "sharing", "check-out")
"""The optional agenda phases shown with the clock (F4)."""
PHASE_ACTIONS = tuple(f"phase:{name}" for name in (*PHASES, "none"))
"""One moderation action per phase, and ``phase:none`` to clear it (PROTOCOL.md 3.3)."""
MODERATION_ACTIONS = (
    "warn",
    "mute",
    "unmute",
    "remove",
    "ban",
    "lock",
    "unlock",
    "slow",
    "round_start",
    "round_next",
    "round_end",
    "delegate",
    "revoke",
    "handover",
    "extend",
    "close",
    *PHASE_ACTIONS,
)
NOTICE_ACTIONS = (
    *MODERATION_ACTIONS,
    "joined",
    "left",
    "pass",
    "warning_time",
    "paused",
    "restart",
)
CLOSE_REASONS = ("facilitator", "time_up", "no_facilitator", "shutdown")
OPEN_POLICIES = ("anyone", "approved")
ROLES = ("member", "co", "facilitator")


def phase_action(phase: str | None) -> str:
    """The action that sets ``phase`` (``None`` clears it); LocalProtocolError if unknown."""
    action = f"phase:{phase if phase is not None else 'none'}"
    if action not in PHASE_ACTIONS or phase == "none":
        raise LocalProtocolError(f"not an agenda phase: {phase!r}", ErrorCode.BAD_FIELD)
    return action


def action_phase(action: str) -> str | None:
    """The phase a phase action sets (``None`` for ``phase:none``); ValueError otherwise."""
    if action not in PHASE_ACTIONS:
        raise ValueError(f"not a phase action: {action!r}")
    name = action.removeprefix("phase:")
    return None if name == "none" else name


# --------------------------------------------------------------------------- nested structs


@dataclass(frozen=True, slots=True)
class Envelope(Struct):
    """A sealed, signed message (PROTOCOL.md 5.5); the server relays it unread."""

    epoch: int = spec(Epoch)
    seq: int = spec(Int(1, limits.MAX_SEQ))
    nonce: bytes = spec(Bytes(limits.NONCE_BYTES))
    ct: bytes = spec(Sealed)
    sig: bytes = spec(Sig)


@dataclass(frozen=True, slots=True)
class Delegation(Struct):
    """The root facilitator key vouching for a co-facilitator's key (PROTOCOL.md 5.7)."""

    member: int = spec(MemberId)
    key: bytes = spec(Key)
    role: str = spec(Str(16, ("co", "facilitator")))
    sig: bytes = spec(Sig)


@dataclass(frozen=True, slots=True)
class Authority(Struct):
    """Who signed a facilitator object: the signing key, its signature, and a delegation."""

    signer: bytes = spec(Key)
    sig: bytes = spec(Sig)
    cert: Delegation | None = spec(Opt(Nested(Delegation)))


@dataclass(frozen=True, slots=True)
class WelcomeBody(Struct):
    """A joiner's way into an epoch, signed by the lead (PROTOCOL.md 5.4).

    ``secret`` is the epoch's joiner secret sealed to the epoch key ``key`` the joiner
    announced (with ML-KEM in suite 2); ``sealed`` is ``nonce || AEAD`` of the roster and
    the commit digest under the welcome key derived from it (9.4).
    """

    epoch: int = spec(Epoch)
    key: int = spec(Epoch)
    secret: bytes = spec(Bytes(max_len=limits.MAX_COMMIT_ENTRY))
    sealed: bytes = spec(Sealed)
    auth: Authority = spec(Nested(Authority))


@dataclass(frozen=True, slots=True)
class SealedTo(Struct):
    """A ciphertext for one member (concerns, check-out moods)."""

    member: int = spec(MemberId)
    sealed: bytes = spec(Bytes(max_len=limits.MAX_SEALED_TO))


@dataclass(frozen=True, slots=True)
class CommitEntry(Struct):
    """A commit secret sealed to one remaining member's epoch key ``key`` (PROTOCOL.md 9.2)."""

    member: int = spec(MemberId)
    key: int = spec(Epoch)
    sealed: bytes = spec(Bytes(max_len=limits.MAX_COMMIT_ENTRY))


@dataclass(frozen=True, slots=True)
class Approval(Struct):
    """A host-approved long-term facilitator key signing this circle's facilitator key."""

    key: bytes = spec(Key)
    sig: bytes = spec(Sig)


@dataclass(frozen=True, slots=True)
class LobbyEntry(Struct):
    """A listed circle: anyone, the server operator included, can knock on it (F7).

    Only the server vouches for an entry, unless its facilitator opened it with a host-approved
    long-term key: then ``approval`` and the ``challenge`` it signed let a client that pins
    that key check it (PROTOCOL.md 5.6).
    """

    circle: bytes = spec(CircleId)
    title: str = spec(Str(limits.MAX_TITLE))
    ends_at: float = spec(Float())
    seats: int = spec(Int(0, limits.MAX_CAPACITY))
    secret: bytes = spec(Bytes(limits.SECRET_BYTES))
    fingerprint: bytes = spec(Bytes(limits.FINGERPRINT_BYTES))
    facilitator_key: bytes = spec(Key)
    approval: Approval | None = spec(Opt(Nested(Approval)))
    challenge: bytes | None = spec(Opt(Bytes(limits.CHALLENGE_BYTES)))


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Frame(Struct):
    """Base class of every wire frame; ``TYPE`` is the ``t`` key on the wire."""

    TYPE: ClassVar[str] = ""


def _frame(cls: type[Frame]) -> type[Frame]:
    FRAME_TYPES[cls.TYPE] = cls
    return cls


FRAME_TYPES: dict[str, type[Frame]] = {}


# Handshake ---------------------------------------------------------------------------------
@_frame
@dataclass(frozen=True, slots=True)
class Hello(Frame):
    """Client -> server, first frame: the protocol version the client speaks."""

    TYPE: ClassVar[str] = "hello"
    version: int = spec(Int(0, 65535))


@_frame
@dataclass(frozen=True, slots=True)
class ServerHello(Frame):
    """Server -> client: version, a fresh challenge, the host's guidelines and crisis text.

    ``risk_phrases`` are the host's additions to the client's risk-language check (F13), sent
    with the crisis resources; the check itself runs on the client and reports nothing."""

    TYPE: ClassVar[str] = "server_hello"
    version: int = spec(Int(0, 65535))
    challenge: bytes = spec(Bytes(limits.CHALLENGE_BYTES))
    guidelines: str = spec(Str())
    crisis: str = spec(Str())
    max_frame: int = spec(Int(1024, 16 * 1024 * 1024))
    lobby: bool = spec(Bool())
    open_policy: str = spec(Str(16, OPEN_POLICIES))
    risk_phrases: tuple[str, ...] = spec(
        ListOf(Str(limits.MAX_RISK_PHRASE), limits.MAX_RISK_PHRASES), default=()
    )


# Circles -----------------------------------------------------------------------------------
@_frame
@dataclass(frozen=True, slots=True)
class OpenCircle(Frame):
    """Facilitator -> server: open a circle (F1). ``sig`` proves the facilitator key."""

    TYPE: ClassVar[str] = "open"
    circle: bytes = spec(CircleId)
    facilitator_key: bytes = spec(Key)
    verifier: bytes = spec(Key)
    info: bytes = spec(Sealed)
    minutes: int = spec(Int(1, limits.MAX_MINUTES))
    capacity: int = spec(Int(2, limits.MAX_CAPACITY))
    auto_admit: bool = spec(Bool())
    listed: bool = spec(Bool())
    title: str | None = spec(Opt(Str(limits.MAX_TITLE)))
    secret: bytes | None = spec(Opt(Bytes(limits.SECRET_BYTES)))
    approval: Approval | None = spec(Opt(Nested(Approval)))
    sig: bytes = spec(Sig)


@_frame
@dataclass(frozen=True, slots=True)
class Opened(Frame):
    """Server -> facilitator: the circle exists; the facilitator's member id and end time."""

    TYPE: ClassVar[str] = "opened"
    circle: bytes = spec(CircleId)
    member: int = spec(MemberId)
    ends_at: float = spec(Float())


@_frame
@dataclass(frozen=True, slots=True)
class Join(Frame):
    """Joiner -> server: per-circle public keys and the admission proof (S2)."""

    TYPE: ClassVar[str] = "join"
    circle: bytes = spec(CircleId)
    sign_key: bytes = spec(Key)
    box_key: bytes = spec(Key)
    proof: bytes = spec(Sig)


@_frame
@dataclass(frozen=True, slots=True)
class CircleInfo(Frame):
    """Server -> joiner after a valid proof: the sealed ground rules and the clock."""

    TYPE: ClassVar[str] = "info"
    circle: bytes = spec(CircleId)
    member: int = spec(MemberId)
    facilitator_key: bytes = spec(Key)
    info: bytes = spec(Sealed)
    ends_at: float = spec(Float())


@_frame
@dataclass(frozen=True, slots=True)
class Knock(Frame):
    """Joiner -> server, after accepting the ground rules: the sealed handle (waiting room)."""

    TYPE: ClassVar[str] = "knock"
    sealed: bytes = spec(Bytes(max_len=1024))
    key: int = spec(Epoch)
    x25519: bytes = spec(Key)
    mlkem: bytes = spec(Bytes(max_len=limits.MLKEM_PUBLIC_BYTES))
    """The joiner's newest epoch key and its id (9.3): the welcome's secret is sealed to it."""


@_frame
@dataclass(frozen=True, slots=True)
class Knocked(Frame):
    """Server -> facilitators: someone is in the waiting room."""

    TYPE: ClassVar[str] = "knocked"
    member: int = spec(MemberId)
    sign_key: bytes = spec(Key)
    box_key: bytes = spec(Key)
    sealed: bytes = spec(Bytes(max_len=1024))
    key: int = spec(Epoch)
    x25519: bytes = spec(Key)
    mlkem: bytes = spec(Bytes(max_len=limits.MLKEM_PUBLIC_BYTES))


@_frame
@dataclass(frozen=True, slots=True)
class Admit(Frame):
    """Facilitator -> server: admit a knocking member with their sealed welcome."""

    TYPE: ClassVar[str] = "admit"
    member: int = spec(MemberId)
    welcome: WelcomeBody = spec(Nested(WelcomeBody))


@_frame
@dataclass(frozen=True, slots=True)
class Decline(Frame):
    """Facilitator -> server: turn a knock away."""

    TYPE: ClassVar[str] = "decline"
    member: int = spec(MemberId)


@_frame
@dataclass(frozen=True, slots=True)
class Welcome(Frame):
    """Server -> joiner: admitted; the facilitator-signed welcome."""

    TYPE: ClassVar[str] = "welcome"
    circle: bytes = spec(CircleId)
    member: int = spec(MemberId)
    welcome: WelcomeBody = spec(Nested(WelcomeBody))
    ends_at: float = spec(Float())
    rseq: int = spec(Seq)


@_frame
@dataclass(frozen=True, slots=True)
class Declined(Frame):
    """Server -> joiner: the facilitator turned the knock away."""

    TYPE: ClassVar[str] = "declined"


# Talking -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Sent(Frame):
    env: Envelope = spec(Nested(Envelope))


@_frame
@dataclass(frozen=True, slots=True)
class Post(_Sent):
    """Member -> server: a message (F8); subject to mute, slow mode and go-around turns."""

    TYPE: ClassVar[str] = "post"


@_frame
@dataclass(frozen=True, slots=True)
class React(_Sent):
    """Member -> server: one of the fixed supportive reactions to a message."""

    TYPE: ClassVar[str] = "react"


@_frame
@dataclass(frozen=True, slots=True)
class Retract(_Sent):
    """Member -> server: take back one's own message (clients check the sender)."""

    TYPE: ClassVar[str] = "retract"


@_frame
@dataclass(frozen=True, slots=True)
class Pin(_Sent):
    """Facilitator -> server: pin a note for everyone."""

    TYPE: ClassVar[str] = "pin"


MESSAGE_FRAMES: dict[str, type[_Sent]] = {
    "post": Post,
    "react": React,
    "retract": Retract,
    "pin": Pin,
}
"""Frame class per sealed-message kind; a frame's ``TYPE`` is its kind."""


@_frame
@dataclass(frozen=True, slots=True)
class Relayed(Frame):
    """Server -> members: a sealed message with its sender id and relay sequence number."""

    TYPE: ClassVar[str] = "relayed"
    kind: str = spec(Str(16, MESSAGE_KINDS))
    sender: int = spec(MemberId)
    rseq: int = spec(Seq)
    env: Envelope = spec(Nested(Envelope))


@_frame
@dataclass(frozen=True, slots=True)
class PassTurn(Frame):
    """Member -> server: pass in a go-around (always allowed, F9)."""

    TYPE: ClassVar[str] = "pass"


@_frame
@dataclass(frozen=True, slots=True)
class Concern(Frame):
    """Member -> server: a concern sealed to each facilitator (F16)."""

    TYPE: ClassVar[str] = "concern"
    to: tuple[SealedTo, ...] = spec(ListOf(Nested(SealedTo), 32))


@_frame
@dataclass(frozen=True, slots=True)
class ConcernNotice(Frame):
    """Server -> one facilitator: a concern raised by a member."""

    TYPE: ClassVar[str] = "concern_notice"
    sender: int = spec(MemberId)
    sealed: bytes = spec(Bytes(max_len=limits.MAX_SEALED_TO))


@_frame
@dataclass(frozen=True, slots=True)
class Checkout(Frame):
    """Member -> server, when leaving: a check-out mood sealed to each facilitator (F11)."""

    TYPE: ClassVar[str] = "checkout"
    to: tuple[SealedTo, ...] = spec(ListOf(Nested(SealedTo), 32))


@_frame
@dataclass(frozen=True, slots=True)
class CheckoutNotice(Frame):
    """Server -> one facilitator: a check-out mood, deliberately without the sender (F11)."""

    TYPE: ClassVar[str] = "checkout_notice"
    sealed: bytes = spec(Bytes(max_len=limits.MAX_SEALED_TO))


# Roster and epochs -------------------------------------------------------------------------
@_frame
@dataclass(frozen=True, slots=True)
class Roster(Frame):
    """Facilitator -> everyone: the signed, sealed roster (S4). ``rseq`` is set by the server."""

    TYPE: ClassVar[str] = "roster"
    version: int = spec(Int(1, limits.MAX_SEQ))
    epoch: int = spec(Epoch)
    nonce: bytes = spec(Bytes(limits.NONCE_BYTES))
    sealed: bytes = spec(Sealed)
    auth: Authority = spec(Nested(Authority))
    rseq: int | None = spec(Opt(Seq))


@_frame
@dataclass(frozen=True, slots=True)
class Rekey(Frame):
    """Lead -> everyone: a commit into the next epoch (S5, PROTOCOL.md 9.4).

    A fresh commit secret sealed to each remaining member's newest epoch key, the hash of the
    roster that follows, and the confirmation tag of the epoch it makes.
    """

    TYPE: ClassVar[str] = "rekey"
    epoch: int = spec(Int(1, limits.MAX_EPOCH))
    keys: tuple[CommitEntry, ...] = spec(ListOf(Nested(CommitEntry), limits.MAX_CAPACITY))
    roster: bytes = spec(Key)
    tag: bytes = spec(Key)
    auth: Authority = spec(Nested(Authority))
    rseq: int | None = spec(Opt(Seq))


@_frame
@dataclass(frozen=True, slots=True)
class KeyUpdate(Frame):
    """Member -> everyone: its fresh epoch key for the next commit, signed (PROTOCOL.md 9.3).

    ``epoch`` names the key (the epoch it is for); ``member`` and ``rseq`` are set by the
    server as it relays it.
    """

    TYPE: ClassVar[str] = "key_update"
    epoch: int = spec(Int(1, limits.MAX_EPOCH))
    x25519: bytes = spec(Key)
    mlkem: bytes = spec(Bytes(max_len=limits.MLKEM_PUBLIC_BYTES))
    sig: bytes = spec(Sig)
    member: int | None = spec(Opt(MemberId))
    rseq: int | None = spec(Opt(Seq))


# Moderation and time -----------------------------------------------------------------------
@_frame
@dataclass(frozen=True, slots=True)
class Moderate(Frame):
    """Facilitator -> server: a moderation action signed by a facilitator key (F17).

    ``minutes`` is for mute and extend; ``seconds`` for slow mode and the go-around share
    timer; ``order`` for round_start; ``note`` is a private warning sealed to the target;
    ``key``/``cert`` name the delegate for delegate and handover. The agenda phase is the
    action itself (``phase:sharing``, ``phase:none``), which carries no other field.
    """

    TYPE: ClassVar[str] = "moderate"
    action: str = spec(Str(16, MODERATION_ACTIONS))
    target: int | None = spec(Opt(MemberId))
    minutes: int | None = spec(Opt(Int(0, limits.MAX_MINUTES)))
    seconds: int | None = spec(Opt(Int(0, 3600)))
    order: tuple[int, ...] = spec(ListOf(MemberId))
    note: bytes | None = spec(Opt(Bytes(max_len=limits.MAX_NOTE)))
    key: bytes | None = spec(Opt(Key))
    cert: Delegation | None = spec(Opt(Nested(Delegation)))
    seq: int = spec(Int(1, limits.MAX_SEQ))
    signer: bytes = spec(Key)
    sig: bytes = spec(Sig)


@_frame
@dataclass(frozen=True, slots=True)
class Notice(Frame):
    """Server -> members: a neutral notice of a membership or moderation event.

    A facilitator's action carries the facilitator's own signed ``moderate`` frame in
    ``signed``; a member's own leave carries its signature in ``proof``. Clients act only on
    what verifies (S10); every other notice is the server's word and only shown (PROTOCOL.md
    3.3). A private warning's note travels inside ``signed``.
    """

    TYPE: ClassVar[str] = "notice"
    action: str = spec(Str(16, NOTICE_ACTIONS))
    target: int | None = spec(Opt(MemberId))
    minutes: int | None = spec(Opt(Int(0, limits.MAX_MINUTES)))
    seconds: int | None = spec(Opt(Int(0, 3600)))
    order: tuple[int, ...] = spec(ListOf(MemberId))
    note: bytes | None = spec(Opt(Bytes(max_len=limits.MAX_NOTE)))
    cert: Delegation | None = spec(Opt(Nested(Delegation)))
    rseq: int = spec(Seq)
    signed: Moderate | None = spec(Opt(Nested(Moderate)), default=None)
    proof: bytes | None = spec(Opt(Sig), default=None)


@_frame
@dataclass(frozen=True, slots=True)
class Timer(Frame):
    """Server -> members: the session clock (F4); ``warning`` is minutes left when a warning."""

    TYPE: ClassVar[str] = "timer"
    ends_at: float = spec(Float())
    warning: int | None = spec(Opt(Int(0, limits.MAX_MINUTES)))


@_frame
@dataclass(frozen=True, slots=True)
class Leave(Frame):
    """Member -> server: leave the circle now. An admitted member signs its leave (``proof``,
    PROTOCOL.md 5.6) so that no one else can be made to leave by the server's word."""

    TYPE: ClassVar[str] = "leave"
    proof: bytes | None = spec(Opt(Sig), default=None)


@_frame
@dataclass(frozen=True, slots=True)
class Closed(Frame):
    """Server -> members: the circle has vanished (F5); clients wipe keys and transcript."""

    TYPE: ClassVar[str] = "closed"
    reason: str = spec(Str(16, CLOSE_REASONS))


# Lobby and resume --------------------------------------------------------------------------
@_frame
@dataclass(frozen=True, slots=True)
class LobbyRequest(Frame):
    """Client -> server: list the listed circles."""

    TYPE: ClassVar[str] = "lobby_request"


@_frame
@dataclass(frozen=True, slots=True)
class Lobby(Frame):
    """Server -> client: the listed circles (F7)."""

    TYPE: ClassVar[str] = "lobby"
    circles: tuple[LobbyEntry, ...] = spec(ListOf(Nested(LobbyEntry)))


@_frame
@dataclass(frozen=True, slots=True)
class Resume(Frame):
    """Member -> server after a dropped connection: prove the member key, ask for the rest."""

    TYPE: ClassVar[str] = "resume"
    circle: bytes = spec(CircleId)
    member: int = spec(MemberId)
    last_rseq: int = spec(Seq)
    proof: bytes = spec(Sig)


@_frame
@dataclass(frozen=True, slots=True)
class Resumed(Frame):
    """Server -> member: resumed; ``missed`` frames follow; ``lost`` when the buffer overflowed."""

    TYPE: ClassVar[str] = "resumed"
    circle: bytes = spec(CircleId)
    member: int = spec(MemberId)
    missed: int = spec(Seq)
    lost: bool = spec(Bool())
    ends_at: float = spec(Float())


@_frame
@dataclass(frozen=True, slots=True)
class Error(Frame):
    """Server -> client: a rejection with a stable code and a human message (PROTOCOL.md 6).

    ``epoch`` and ``seq`` name the refused message when the rejected frame was one (a post
    refused for a mute, slow mode or someone else's turn), so its sender knows exactly which
    number was never relayed."""

    TYPE: ClassVar[str] = "error"
    code: int = spec(Int(1000, 9999))
    message: str = spec(Str(500))
    ref: str | None = spec(Opt(Str(32)))
    epoch: int | None = spec(Opt(Int(0, limits.MAX_EPOCH)), default=None)
    seq: int | None = spec(Opt(Int(0, limits.MAX_SEQ)), default=None)


# --------------------------------------------------------------------------- codec

_TYPE_KEY = frozenset({"t"})


def encode_frame(frame: Frame) -> bytes:
    """Frame -> msgpack bytes."""
    data: dict[str, Any] = {"t": frame.TYPE}
    data.update(frame.to_map())
    return pack(data)


def decode_frame(data: bytes, max_bytes: int = limits.MAX_FRAME_BYTES) -> Frame:
    """Msgpack bytes -> Frame, validating limits and every field.

    Raises only :class:`RemoteProtocolError` (``MALFORMED``, ``UNKNOWN_FRAME``, ``BAD_FIELD``
    or :class:`~protocol.errors.FrameTooLarge`).
    """
    obj = unpack(data, max_bytes)
    if not isinstance(obj, dict) or not all(isinstance(key, str) for key in obj):
        raise RemoteProtocolError("a frame must be a map with string keys", ErrorCode.MALFORMED)
    frame_type = obj.get("t")
    cls = FRAME_TYPES.get(frame_type) if isinstance(frame_type, str) else None
    if cls is None:
        raise RemoteProtocolError("unknown frame type", ErrorCode.UNKNOWN_FRAME)
    return wrap_field_errors(lambda: cls.from_map(obj, skip=_TYPE_KEY))
