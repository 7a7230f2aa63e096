"""Plain words for what goes wrong, for how a circle ends, and for the status line.

Errors reach a person as full sentences without internal names (no ``PostContent.body``, no
``ConnectionRefusedError``); every way a circle can end for someone has its own title, what
happened, and what they can do next. Pure functions and data: tested without Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circle_client.session import Session

FIELD_ERROR = re.compile(r"^(?P<struct>[A-Z]\w*)\.(?P<field>\w+): (?P<why>.+)$")
EXCEPTION_NAME = re.compile(r"\s*\((?:[A-Z]\w*(?:Error|Exception)|Invalid[A-Z]\w*)\)")

FIELD_WORDS = {
    "body": "Your message",
    "warning": "The content warning label",
    "note": "The note",
    "handle": "The handle",
    "title": "The title",
    "rules": "The ground rules",
    "text": "The text",
    "mood": "The mood",
}


def plain_error(error: BaseException | str) -> str:
    """What went wrong, as a full sentence a person can act on."""
    text = str(error).strip()
    field = FIELD_ERROR.match(text)
    if field:
        what = FIELD_WORDS.get(field["field"], "Something you entered")
        if field["why"].startswith("longer than"):
            return f"{what} is too long to send. Make it shorter, or split it into a few messages."
        return f"{what} could not be sent as it is. Change it a little and try again."
    text = EXCEPTION_NAME.sub("", text)
    if not text:
        return "Something went wrong. Try again in a moment."
    if text[-1] not in ".!?":
        text += "."
    return text[0].upper() + text[1:]


NOT_IN_AN_INVITE = re.compile(r"[\s│┃|╭╮╰╯─▊▎]+")


def clean_invite(text: str) -> str:
    """An invite as pasted: line breaks, spaces and box borders a terminal copied along with
    a wrapped invite are dropped (none of them can be part of an invite)."""
    return NOT_IN_AN_INVITE.sub("", text)


@dataclass(frozen=True, slots=True)
class Ending:
    """How the circle ended for this person, in words: shown on the exit screen."""

    kind: str
    title: str
    what: str
    next: str


CLOSED_REASONS = {
    "facilitator": "The facilitator closed the circle.",
    "time_up": "The circle's time is up.",
    "no_facilitator": "No facilitator came back, so the circle closed.",
    "shutdown": "The server that carried the circle is shutting down.",
}

GENTLE = (
    "Thank you for being here. Take a moment for yourself before you go on with your day. "
    "If something in the circle stirred up something heavy, you do not have to carry it "
    "alone:"
)

FORGOTTEN = "Its messages and keys are gone from this computer's memory; nothing was saved."


def ending(kind: str, detail: str = "") -> Ending:
    """The words for one way of ending: declined, removed, left_out, banned, left, ended,
    gone."""
    if kind == "declined":
        return Ending(
            kind,
            "You were not let in this time",
            "The facilitator did not admit you to this circle. That can happen for many "
            "reasons: it may be full, or meant for a particular group.",
            "You can ask the person who gave you the invite, or look for another circle.",
        )
    if kind == "removed":
        return Ending(
            kind,
            "You were removed from the circle",
            "A facilitator removed you from the circle.",
            "You may knock again with the same invite; the facilitator decides who comes in.",
        )
    if kind == "left_out":
        return Ending(
            kind,
            "You can no longer read this circle",
            "The lead facilitator's last key change did not include you, and no facilitator "
            "signed a removal of you. The server may have said your connection was lost.",
            "If the circle is still open, join again with the same invite, or ask the facilitator.",
        )
    if kind == "banned":
        return Ending(
            kind,
            "You cannot come back to this circle",
            "A facilitator removed you from this circle for the rest of its time.",
            "If you think this was a mistake, tell the person who invited you.",
        )
    if kind == "left":
        return Ending(
            kind,
            "You left the circle",
            "You left; the others were told that you did, and nothing else.",
            "While the circle is open you can come back with the same invite.",
        )
    if kind == "ended":
        return Ending(
            kind,
            "The circle has ended",
            CLOSED_REASONS.get(detail, "The circle closed."),
            "If you want to talk again, ask the facilitator about the next circle.",
        )
    return Ending(
        "gone",
        "The connection to the circle was lost",
        plain_error(detail) if detail else "The connection to the server ended.",
        "Check your connection. If the circle is still open, join again with the same invite.",
    )


def lives_here(share: str | None) -> str:
    """The Open form's plain words for a circle whose server runs in this window."""
    if share:
        reach = f"reachable at {share} by anyone who can reach this computer there"
    else:
        reach = "and only this computer can reach it (127.0.0.1)"
    text = (
        f"This circle will live in this window: Circle runs its server here, {reach}. "
        "Closing this window ends the circle for everyone, even after a hand-over."
    )
    if not share:
        text += (
            " To invite people on other computers, open it with --share ADDRESS, or on a "
            "server with --server URL."
        )
    return text


def lives_here_short(share: str | None) -> str:
    """The same for the circle's status line."""
    return (
        f"lives in this window (at {share})"
        if share
        else "lives in this window (this computer only)"
    )


def ends_here(doing: str) -> str:
    """The question before quitting, leaving or handing over a circle that lives here."""
    return (
        f"This circle lives in this window. If you {doing}, it still ends for everyone when "
        "this window closes. Go ahead?"
    )


def round_status(session: Session, now: float) -> str:
    """Whose turn it is in a go-around, the share timer (F9) and who is next; "you" for the
    person reading it."""
    speaker, *rest = session.round
    who = "you are" if speaker == session.member else f"{session.handle_of(speaker)} is"
    text = f"Go-around: {who} sharing"
    if session.share_seconds:
        left = max(0, int(session.turn_started + session.share_seconds - now))
        text += f" ({left // 60}:{left % 60:02d} left)"
    if rest:
        following = rest[0]
        text += (
            ", then you"
            if following == session.member
            else f", then {session.handle_of(following)}"
        )
    return text


def status_line(title: str, session: Session, now: float, lives_here: str | None) -> str:
    """The circle's status line, all from the session: title, clock and phase, where it
    lives, the go-around, a mute, locked, slow mode, admissions paused, reconnecting."""
    left = max(0, int(session.ends_at - now)) if session.ends_at else 0
    clock = f"{left // 60:02d}:{left % 60:02d} left"
    if session.phase:  # the agenda phase goes with the clock (F4): "Sharing, 41:59 left"
        clock = f"{session.phase.capitalize()}, {clock}"
    parts = [title, clock]
    if lives_here:
        parts.append(lives_here)
    if session.round:
        parts.append(round_status(session, now))
    muted = int(session.muted_until - now)
    if muted > 0:
        parts.append(f"you are muted ({muted // 60}:{muted % 60:02d} left)")
    if session.locked:
        parts.append("locked")
    if session.slow_seconds:
        parts.append(f"slow mode: one message every {session.slow_seconds} s")
    if session.paused:
        parts.append("admissions paused")
    if session.resuming:
        parts.append("reconnecting...")
    return "  ·  ".join(parts)
