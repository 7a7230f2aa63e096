"""Server-enforced facilitation (F4, F9, F17, F6): what each signed moderation action does.

The registry has already checked that the frame is signed by the sending facilitator's own
key and that its sequence number is new; this module checks the action's own rules and
returns the actions (neutral notices, closes) to carry out. Every notice of a facilitator's
action carries the signed frame itself, so members verify it rather than trust the server
(S10); a private warning's note travels only inside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from circle_server.actions import Action, CloseCode, Rejection, Send
from circle_server.circle import WARNING_MINUTES, Circle, Member, Round
from protocol.errors import CryptoError, ErrorCode
from protocol.frames import (
    PHASE_ACTIONS,
    Moderate,
    Notice,
    Timer,
    action_phase,
    phase_action,
)
from protocol.handshake import verify_delegation
from protocol.states import MemberState

if TYPE_CHECKING:
    from circle_server.registry import Registry


def apply_moderation(
    registry: Registry, circle: Circle, actor: Member, frame: Moderate, now: float
) -> list[Action]:
    action = frame.action
    if action == "close":
        return registry.close_circle(circle, "facilitator")
    if action in ("lock", "unlock"):
        circle.locked = action == "lock"
        return registry.publish(circle, registry.notice(circle, action, None, signed=frame))
    if action == "slow":
        circle.slow_seconds = frame.seconds or 0
        return registry.publish(
            circle, registry.notice(circle, action, None, seconds=circle.slow_seconds, signed=frame)
        )
    if action == "extend":
        return _extend(registry, circle, frame, now)
    if action in PHASE_ACTIONS:
        return _phase(registry, circle, frame)
    if action.startswith("round_"):
        return _round(registry, circle, frame, now)
    target = _target(circle, actor, frame)
    if action == "warn":
        if target.conn is None:
            raise Rejection(ErrorCode.UNAVAILABLE, "That person is not connected right now.")
        notice = registry.notice(circle, "warn", target.id, stream=False, signed=frame)
        delivered = [Send(actor.conn, notice)] if actor.conn is not None else []
        return [Send(target.conn, notice), *delivered]  # the sender's copy: it was delivered
    if action == "mute":
        if not frame.minutes:
            raise Rejection(ErrorCode.BAD_FIELD, "Say for how many minutes to mute.")
        target.muted_until = now + frame.minutes * 60
        return registry.publish(
            circle, registry.notice(circle, "mute", target.id, minutes=frame.minutes, signed=frame)
        )
    if action == "unmute":
        target.muted_until = 0.0
        return registry.publish(circle, registry.notice(circle, "unmute", target.id, signed=frame))
    if action == "remove":
        return registry.depart(circle, target, "remove", "remove", CloseCode.REMOVED, signed=frame)
    if action == "ban":
        circle.banned_keys.add(target.sign_key)
        circle.banned_addresses.add(target.address)
        return registry.depart(circle, target, "ban", "ban", CloseCode.BANNED, signed=frame)
    if action in ("delegate", "handover"):
        return _delegate(registry, circle, actor, target, frame)
    if action == "revoke":
        if target.role != "co":
            raise Rejection(ErrorCode.BAD_FIELD, "That person is not a co-facilitator.")
        target.role = "member"
        return registry.publish(circle, registry.notice(circle, "revoke", target.id, signed=frame))
    raise Rejection(ErrorCode.BAD_FIELD, f"Unknown moderation action {action!r}.")


def _target(circle: Circle, actor: Member, frame: Moderate) -> Member:
    target = circle.members.get(frame.target) if frame.target is not None else None
    if target is None or not target.seated:
        raise Rejection(ErrorCode.BAD_FIELD, "That person is not in the circle.")
    if target.id == actor.id:
        raise Rejection(ErrorCode.NOT_ALLOWED, "You cannot do that to yourself.")
    if target.role == "facilitator" and actor.role != "facilitator":
        raise Rejection(ErrorCode.NOT_ALLOWED, "A co-facilitator cannot act on the facilitator.")
    return target


def _extend(registry: Registry, circle: Circle, frame: Moderate, now: float) -> list[Action]:
    if not frame.minutes:
        raise Rejection(ErrorCode.BAD_FIELD, "Say by how many minutes to extend.")
    latest = now + registry.config.max_minutes * 60
    circle.ends_at = min(circle.ends_at + frame.minutes * 60, latest)
    left = circle.ends_at - now
    circle.warnings_sent = {m for m in WARNING_MINUTES if left <= m * 60}
    out = registry.publish(
        circle, registry.notice(circle, "extend", None, minutes=frame.minutes, signed=frame)
    )
    return out + registry.publish(circle, Timer(ends_at=circle.ends_at, warning=None))


def _phase(registry: Registry, circle: Circle, frame: Moderate) -> list[Action]:
    """F4: set or clear the agenda phase; the action itself names it and nothing else."""
    extra = (frame.target, frame.minutes, frame.seconds, frame.note, frame.key, frame.cert)
    if frame.order or any(value is not None for value in extra):
        raise Rejection(ErrorCode.BAD_FIELD, "A phase change names only the phase.")
    circle.phase = action_phase(frame.action)
    return registry.publish(circle, registry.notice(circle, frame.action, None, signed=frame))


def phase_notice(registry: Registry, circle: Circle) -> Notice:
    """The current phase for one member who missed it (admitted later, or resumed after the
    buffer overflowed): not numbered, so it is state to show rather than news."""
    return registry.notice(circle, phase_action(circle.phase), None, stream=False)


def _round(registry: Registry, circle: Circle, frame: Moderate, now: float) -> list[Action]:
    if frame.action == "round_start":
        seated = circle.ids_seated()
        order = list(dict.fromkeys(frame.order))
        if not order or any(m not in seated for m in order):
            raise Rejection(
                ErrorCode.BAD_FIELD, "The speaking order must list people in the circle."
            )
        circle.round = Round(order=order, share_seconds=frame.seconds or None, turn_started=now)
        notice = registry.notice(
            circle, "round_start", None, seconds=frame.seconds, order=order, signed=frame
        )
        return registry.publish(circle, notice)
    if circle.round is None:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "There is no go-around running.")
    if frame.action == "round_next":
        if circle.round.order:
            circle.round.order.pop(0)
        circle.round.turn_started = now
        if circle.round.order:
            notice = registry.notice(
                circle, "round_next", None, order=circle.round.order, signed=frame
            )
            return registry.publish(circle, notice)
    circle.round = None
    # round_end signed by the facilitator, or the end of the order after a signed round_next
    signed = frame if frame.action == "round_end" else None
    return registry.publish(circle, registry.notice(circle, "round_end", None, signed=signed))


def _delegate(
    registry: Registry, circle: Circle, actor: Member, target: Member, frame: Moderate
) -> list[Action]:
    role = "co" if frame.action == "delegate" else "facilitator"
    cert = frame.cert
    if actor.role != "facilitator":
        raise Rejection(ErrorCode.NOT_ALLOWED, "Only the facilitator can delegate or hand over.")
    if cert is None or cert.member != target.id or cert.key != target.sign_key or cert.role != role:
        raise Rejection(ErrorCode.BAD_FIELD, "The delegation does not name this person and role.")
    try:
        verify_delegation(circle.root_key, circle.id, cert)
    except CryptoError:
        raise Rejection(
            ErrorCode.BAD_SIGNATURE, "The delegation is not signed by the circle's key."
        ) from None
    if target.state is not MemberState.ADMITTED and target.state is not MemberState.AWAY:
        raise Rejection(ErrorCode.BAD_FIELD, "That person is not in the circle.")
    target.role = role
    if role == "facilitator":
        actor.role = "member"
    notice = registry.notice(circle, frame.action, target.id, cert=cert, signed=frame)
    return registry.publish(circle, notice)
