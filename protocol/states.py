"""Member and circle state machines: every transition lives in these tables (PROTOCOL.md 7).

Like h11's ``_state.py``, nothing outside this module decides which state follows which; the
server registry asks :func:`member_after` / :func:`circle_after` and which frames a member in
a state may send.
"""

from __future__ import annotations

from enum import Enum

from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError


class MemberState(Enum):
    CONNECTED = "connected"  # said hello, not yet in a circle
    PROVED = "proved"  # admission proof accepted, reading the ground rules
    WAITING = "waiting"  # knocked, in the waiting room
    ADMITTED = "admitted"  # in the circle (mute is a timed flag on top of this)
    AWAY = "away"  # connection dropped; may resume within the grace period
    GONE = "gone"  # left, declined, removed, banned, or the circle closed


class CircleState(Enum):
    OPEN = "open"
    PAUSED = "paused"  # no facilitator connected: admissions paused, grace timer running
    CLOSED = "closed"


MEMBER_TRANSITIONS: dict[tuple[MemberState, str], MemberState] = {
    (MemberState.CONNECTED, "open"): MemberState.ADMITTED,
    (MemberState.CONNECTED, "join"): MemberState.PROVED,
    (MemberState.CONNECTED, "resume"): MemberState.ADMITTED,
    (MemberState.PROVED, "knock"): MemberState.WAITING,
    (MemberState.PROVED, "leave"): MemberState.GONE,
    (MemberState.PROVED, "drop"): MemberState.GONE,
    (MemberState.WAITING, "admit"): MemberState.ADMITTED,
    (MemberState.WAITING, "decline"): MemberState.GONE,
    (MemberState.WAITING, "leave"): MemberState.GONE,
    (MemberState.WAITING, "drop"): MemberState.GONE,
    (MemberState.ADMITTED, "leave"): MemberState.GONE,
    (MemberState.ADMITTED, "remove"): MemberState.GONE,
    (MemberState.ADMITTED, "ban"): MemberState.GONE,
    (MemberState.ADMITTED, "drop"): MemberState.AWAY,
    (MemberState.ADMITTED, "close"): MemberState.GONE,
    (MemberState.AWAY, "resume"): MemberState.ADMITTED,
    (MemberState.AWAY, "expire"): MemberState.GONE,
    (MemberState.AWAY, "remove"): MemberState.GONE,
    (MemberState.AWAY, "ban"): MemberState.GONE,
    (MemberState.AWAY, "close"): MemberState.GONE,
}

CIRCLE_TRANSITIONS: dict[tuple[CircleState, str], CircleState] = {
    (CircleState.OPEN, "facilitator_lost"): CircleState.PAUSED,
    (CircleState.PAUSED, "facilitator_back"): CircleState.OPEN,
    (CircleState.OPEN, "close"): CircleState.CLOSED,
    (CircleState.PAUSED, "close"): CircleState.CLOSED,
}

# Frames a connection may send in each state; anything else is OUT_OF_ORDER.
_TALK = frozenset(
    {
        "post",
        "react",
        "retract",
        "pass",
        "concern",
        "checkout",
        "leave",
        "lobby_request",
        "knock",
        "key_update",
    }
)
"""``knock`` from a seated member asks the facilitators to welcome it again, to catch up
after missing a step of the circle's history (PROTOCOL.md 3.3, Resuming)."""
_FACILITATE = frozenset({"admit", "decline", "pin", "roster", "rekey", "moderate"})
ALLOWED_FRAMES: dict[MemberState, frozenset[str]] = {
    MemberState.CONNECTED: frozenset({"open", "join", "resume", "lobby_request"}),
    MemberState.PROVED: frozenset({"knock", "leave", "lobby_request"}),
    MemberState.WAITING: frozenset({"leave", "lobby_request"}),
    MemberState.ADMITTED: _TALK | _FACILITATE,
    MemberState.AWAY: frozenset(),
    MemberState.GONE: frozenset({"lobby_request"}),
}
FACILITATOR_FRAMES = _FACILITATE
"""Frames only a facilitator or co-facilitator may send (checked by role, not state)."""


def member_after(state: MemberState, event: str) -> MemberState:
    try:
        return MEMBER_TRANSITIONS[(state, event)]
    except KeyError:
        raise RemoteProtocolError(
            f"{event!r} is not possible while {state.value}", ErrorCode.OUT_OF_ORDER
        ) from None


def circle_after(state: CircleState, event: str) -> CircleState:
    try:
        return CIRCLE_TRANSITIONS[(state, event)]
    except KeyError:
        raise RemoteProtocolError(
            f"{event!r} is not possible while the circle is {state.value}", ErrorCode.OUT_OF_ORDER
        ) from None


def check_frame_allowed(state: MemberState, frame_type: str) -> None:
    if frame_type not in ALLOWED_FRAMES[state]:
        raise RemoteProtocolError(
            f"a {frame_type!r} frame is not allowed while {state.value}", ErrorCode.OUT_OF_ORDER
        )


# --------------------------------------------------------------------------- the client's side


class ClientState(Enum):
    """One client session's place in a circle's life (PROTOCOL.md 7.2)."""

    CONNECTING = "connecting"  # waiting for the server's hello
    READY = "ready"  # said hello; in no circle (the lobby is open to it)
    OPENING = "opening"  # asked to open a circle
    JOINING = "joining"  # sent the admission proof, waiting for the circle's info
    RULES = "rules"  # reading the ground rules
    WAITING = "waiting"  # knocked, in the waiting room
    ADMITTED = "admitted"  # in the circle
    CLOSED = "closed"  # left, declined, removed, or the circle ended; keys wiped


_ANYWHERE = frozenset({"server_hello", "error", "lobby"})
_IN_CIRCLE = frozenset(
    {
        "relayed",
        "roster",
        "rekey",
        "key_update",
        "notice",
        "timer",
        "knocked",
        "concern_notice",
        "checkout_notice",
        "resumed",
        "closed",
        "welcome",  # only to be refused: a seat is welcomed once (S10)
    }
)
CLIENT_FRAMES: dict[ClientState, frozenset[str]] = {
    ClientState.CONNECTING: frozenset({"server_hello", "error"}),
    ClientState.READY: _ANYWHERE,
    ClientState.OPENING: _ANYWHERE | {"opened"},
    ClientState.JOINING: _ANYWHERE | {"info", "closed"},
    ClientState.RULES: _ANYWHERE | {"declined", "closed"},
    ClientState.WAITING: _ANYWHERE | {"welcome", "declined", "closed"},
    ClientState.ADMITTED: _ANYWHERE | _IN_CIRCLE,
    ClientState.CLOSED: _ANYWHERE,
}
"""Server frames a client handles in each state; any other is refused with an alert, except
after the circle is closed, where frames still in flight are dropped without a word."""

CLIENT_TRANSITIONS: dict[tuple[ClientState, str], ClientState] = {
    (ClientState.CONNECTING, "hello"): ClientState.READY,
    (ClientState.READY, "open"): ClientState.OPENING,
    (ClientState.OPENING, "open"): ClientState.OPENING,
    (ClientState.CLOSED, "open"): ClientState.OPENING,
    (ClientState.OPENING, "opened"): ClientState.ADMITTED,
    (ClientState.READY, "join"): ClientState.JOINING,
    (ClientState.JOINING, "join"): ClientState.JOINING,
    (ClientState.RULES, "join"): ClientState.JOINING,
    (ClientState.CLOSED, "join"): ClientState.JOINING,
    (ClientState.JOINING, "info"): ClientState.RULES,
    (ClientState.RULES, "knock"): ClientState.WAITING,
    (ClientState.WAITING, "knock"): ClientState.WAITING,
    (ClientState.WAITING, "welcome"): ClientState.ADMITTED,
}
"""Every change of a client's state but one: ``wipe`` goes to CLOSED from anywhere."""


def client_after(state: ClientState, event: str) -> ClientState:
    """The state after ``event``; LocalProtocolError if the session cannot do that now."""
    if event == "wipe":
        return ClientState.CLOSED
    if event == "hello":
        return ClientState.READY if state is ClientState.CONNECTING else state
    try:
        return CLIENT_TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(f"cannot {event} while {state.value}") from None
