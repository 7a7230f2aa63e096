"""What the registry asks the shell to do, and the close codes it uses (PROTOCOL.md 6)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ErrorCode
from protocol.frames import Frame


class CloseCode:
    """Websocket close codes (PROTOCOL.md section 6)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESUME = 1012  # reconnect and resume: the circle moved to another node
    CIRCLE_CLOSED = 4001
    REMOVED = 4002
    BANNED = 4003
    DECLINED = 4004
    RATE_LIMITED = 4008
    TOO_MANY_CONNECTIONS = 4009
    TIMEOUT = 4010
    UNSUPPORTED_VERSION = 4011


@dataclass(frozen=True, slots=True)
class Send:
    conn: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class Publish:
    """Deliver to every connected, admitted member of ``circle``."""

    circle: bytes
    frame: Frame


@dataclass(frozen=True, slots=True)
class Close:
    conn: int
    code: int
    reason: str


Action = Send | Publish | Close


class Rejection(Exception):
    """Internal: reject the current frame with ``code``; optionally close the connection."""

    def __init__(self, code: ErrorCode, message: str, close: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.close = close
