"""One exception tree for Circle, and the stable error codes carried in error frames.

Like h11, protocol errors are split into "the peer sent something wrong"
(:class:`RemoteProtocolError`) and "we used the API wrongly" (:class:`LocalProtocolError`).
Any other exception escaping the protocol package is a bug. Crypto failures never carry key
material or plaintext in their message.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Stable numeric codes sent in ``error`` frames (PROTOCOL.md section 6)."""

    # 1xxx: the frame itself is wrong.
    MALFORMED = 1000
    UNKNOWN_FRAME = 1001
    BAD_FIELD = 1002
    TOO_LARGE = 1003
    UNSUPPORTED_VERSION = 1004
    OUT_OF_ORDER = 1005
    # 2xxx: admission and identity.
    NO_SUCH_CIRCLE = 2000
    BAD_PROOF = 2001
    CIRCLE_FULL = 2002
    CIRCLE_LOCKED = 2003
    BANNED = 2004
    DECLINED = 2005
    BAD_SIGNATURE = 2006
    NOT_ALLOWED = 2007
    CIRCLE_EXISTS = 2008
    NOT_APPROVED = 2009
    ADMISSIONS_PAUSED = 2010
    # 3xxx: talking.
    MUTED = 3000
    NOT_YOUR_TURN = 3001
    SLOW_MODE = 3002
    RATE_LIMITED = 3003
    REPLAYED = 3004
    # 4xxx: the server.
    SERVER_FULL = 4000
    TOO_MANY_CONNECTIONS = 4001
    UNAVAILABLE = 4002
    SHUTTING_DOWN = 4003
    INTERNAL = 4999


class CircleError(Exception):
    """Root of every exception Circle raises on purpose."""


class ProtocolError(CircleError):
    """A frame or a sequence of frames broke the protocol."""

    code: ErrorCode = ErrorCode.MALFORMED

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class RemoteProtocolError(ProtocolError):
    """The peer sent garbage: malformed, oversized, unknown or out-of-range input."""


class FrameTooLarge(RemoteProtocolError):
    """A frame exceeded the negotiated size limit."""

    code = ErrorCode.TOO_LARGE


class UnsupportedVersion(RemoteProtocolError):
    """The peer speaks a protocol version this side does not."""

    code = ErrorCode.UNSUPPORTED_VERSION


class LocalProtocolError(ProtocolError):
    """This side misused the API (e.g. built a frame with an out-of-range field)."""


class CryptoError(CircleError):
    """A cryptographic check failed. The message never holds key material or plaintext."""


class TamperedError(CryptoError):
    """A sealed or signed object did not verify: it was altered, truncated or forged."""


class WrongFacilitatorError(CryptoError):
    """A welcome, roster or rekey was not signed by the facilitator named in the invite."""


class ReplayError(CryptoError):
    """A message was seen before (duplicate) and is dropped."""


class RefusedRelayedError(CryptoError):
    """The server relayed a message whose sender it told the message was refused: it shows
    members different conversations (S6)."""


class ForkError(CryptoError):
    """A welcome, rekey or roster would roll the group back, skip ahead, or fork its history
    (S10): it does not follow, by exactly one step, the state this member holds."""


class EpochError(CryptoError):
    """A message or rekey names an epoch this member does not (or no longer) hold a key for."""


class InviteError(CircleError):
    """An invite string could not be understood; the message says what to do next."""
