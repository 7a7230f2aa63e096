"""What members say to each other through the server (F7, F9, F11, F16): posts, reactions,
pins and take-backs, passing a turn, concerns, check-outs, and the key changes relayed in
order with them. The server sees only ciphertext; it enforces turns, mutes and slow mode
(the rules of who may speak when), numbers what it relays (the relay sequence every member
shares) and passes sealed boxes only to the facilitators they are sealed to.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from circle_server.actions import Action, Rejection, Send
from circle_server.circle import Circle, Member
from protocol.errors import ErrorCode
from protocol.frames import (
    Checkout,
    CheckoutNotice,
    Concern,
    ConcernNotice,
    KeyUpdate,
    Post,
    Rekey,
    Relayed,
    Roster,
    SealedTo,
)

if TYPE_CHECKING:
    from circle_server.registry import Registry

CONCERN_LIMIT = (3, 600.0)
"""At most 3 concerns per member per 10 minutes (F16)."""


def message(
    registry: Registry, circle: Circle, member: Member, frame: Post, now: float
) -> list[Action]:
    """A post, reaction, pin or take-back: numbered and relayed to the circle, unless the
    sender is muted, it is someone else's turn, or slow mode says wait."""
    kind = frame.TYPE
    if kind == "pin" and not member.is_facilitator:
        raise Rejection(ErrorCode.NOT_ALLOWED, "Only a facilitator can pin a note.")
    if kind in ("post", "react") and member.muted_until > now:
        left = int((member.muted_until - now + 59) // 60)
        raise Rejection(ErrorCode.MUTED, f"You are muted for {left} more min.")
    if kind == "post" and not member.is_facilitator:
        speaker = circle.round.speaker if circle.round else None
        if speaker is not None and speaker != member.id:
            raise Rejection(ErrorCode.NOT_YOUR_TURN, "Not your turn: someone is sharing.")
        if circle.slow_seconds and now - member.last_post < circle.slow_seconds:
            wait = int(circle.slow_seconds - (now - member.last_post)) + 1
            raise Rejection(ErrorCode.SLOW_MODE, f"Slow mode: you can post again in {wait} s.")
        member.last_post = now
    relayed = Relayed.trusted(
        kind=kind, sender=member.id, rseq=registry.next_rseq(circle), env=frame.env
    )
    return registry.publish(circle, relayed)


def pass_turn(registry: Registry, circle: Circle, member: Member, now: float) -> list[Action]:
    if circle.round is None or member.id not in circle.round.order:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "There is no go-around to pass in.")
    was_speaker = circle.round.speaker == member.id
    circle.round.order.remove(member.id)
    if was_speaker:
        circle.round.turn_started = now
    return registry.publish(
        circle, registry.notice(circle, "pass", member.id, order=circle.round.order)
    )


def concern(circle: Circle, member: Member, frame: Concern, now: float) -> list[Action]:
    count, window = CONCERN_LIMIT
    recent = [t for t in member.concerns if now - t < window]
    if len(recent) >= count:
        raise Rejection(
            ErrorCode.RATE_LIMITED,
            "You have raised several concerns; a facilitator will look at them.",
        )
    member.concerns.append(now)
    out: list[Action] = []
    for entry in _one_each(frame.to):
        target = circle.members.get(entry.member)
        if target and target.is_facilitator and target.conn is not None:
            out.append(Send(target.conn, ConcernNotice(sender=member.id, sealed=entry.sealed)))
    if not out:
        raise Rejection(ErrorCode.UNAVAILABLE, "No facilitator is connected right now.")
    return out


def checkout(circle: Circle, member: Member, frame: Checkout) -> list[Action]:
    """Pass a check-out mood to the facilitators without saying whose it is (F11)."""
    if member.checked_out:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "You have checked out already.")
    member.checked_out = True
    out: list[Action] = []
    for entry in _one_each(frame.to):
        target = circle.members.get(entry.member)
        if target and target.is_facilitator and target.conn is not None:
            out.append(Send(target.conn, CheckoutNotice(sealed=entry.sealed)))
    return out


def key_update(
    registry: Registry, circle: Circle, member: Member, frame: KeyUpdate
) -> list[Action]:
    """A member's fresh epoch key: public, signed by the member, relayed to everyone in
    order with the commits it is for (PROTOCOL.md 9.3). One per member per epoch, for the
    next epoch at most: not metered as chat, and no way to flood the circle either."""
    if frame.epoch <= member.key_epoch:
        return []  # sent again after a reconnect, or older than one relayed: nothing new
    if frame.epoch > circle.epoch + 1:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "A key update is for the next epoch only.")
    member.key_epoch = frame.epoch
    return stream(registry, circle, dataclasses.replace(frame, member=member.id))


def stream(registry: Registry, circle: Circle, frame: Roster | Rekey | KeyUpdate) -> list[Action]:
    if isinstance(frame, Rekey):
        circle.epoch = max(circle.epoch, frame.epoch)
    numbered = dataclasses.replace(frame, rseq=registry.next_rseq(circle))
    return registry.publish(circle, numbered)


def _one_each(entries: tuple[SealedTo, ...]) -> list[SealedTo]:
    """The first box for each recipient: a frame naming someone twice is not two concerns or
    two check-outs, and the rate limits count members, not boxes."""
    seen: dict[int, SealedTo] = {}
    for entry in entries:
        seen.setdefault(entry.member, entry)
    return list(seen.values())
