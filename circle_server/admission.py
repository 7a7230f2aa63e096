"""Entering circles: open, join with proof, knock, admit, decline, resume (S2, F1-F3).

Functions of the registry's state, split out to keep each module to one concern; the registry
dispatches to them and owns everything else.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from circle_server.actions import Action, Close, CloseCode, Rejection, Send
from circle_server.circle import Circle, Member
from circle_server.moderation import phase_notice
from protocol import crypto, handshake
from protocol.errors import CryptoError, ErrorCode
from protocol.frames import (
    Admit,
    CircleInfo,
    Decline,
    Declined,
    Join,
    Knock,
    Knocked,
    OpenCircle,
    Opened,
    Resume,
    Resumed,
    Welcome,
)
from protocol.states import CircleState, MemberState, member_after

if TYPE_CHECKING:
    from circle_server.registry import Conn, Registry

log = logging.getLogger("circle_server.registry")

PAUSED_MESSAGE = "No facilitator is here right now; try again in a few minutes."


def open_circle(reg: Registry, conn: Conn, frame: OpenCircle, now: float) -> list[Action]:
    c = reg.config
    try:
        handshake.verify_open(conn.challenge, frame)
    except CryptoError:
        raise Rejection(
            ErrorCode.BAD_SIGNATURE, "The open request is not signed correctly."
        ) from None
    try:
        approver = handshake.verify_approval(conn.challenge, frame)
    except CryptoError:
        approver = None
    if c.open_policy == "approved":
        if approver not in reg.approved:
            raise Rejection(
                ErrorCode.NOT_APPROVED,
                "This server lets only approved facilitators open circles. Ask the host "
                "to add your facilitator key.",
            )
    if frame.circle in reg.circles:
        raise Rejection(ErrorCode.CIRCLE_EXISTS, "A circle with this id exists; try again.")
    if len(reg.circles) >= c.max_circles:
        raise Rejection(ErrorCode.SERVER_FULL, "This server has as many circles as it can hold.")
    if frame.minutes > c.max_minutes:
        raise Rejection(
            ErrorCode.NOT_ALLOWED, f"Sessions here last at most {c.max_minutes} minutes."
        )
    if frame.capacity > c.max_members:
        raise Rejection(ErrorCode.NOT_ALLOWED, f"Circles here hold at most {c.max_members} people.")
    if frame.listed and (not frame.title or frame.secret is None or not c.lobby):
        raise Rejection(ErrorCode.BAD_FIELD, "A listed circle needs a title and its secret.")
    if frame.listed and frame.auto_admit:
        # Anyone, the server included, can knock on a listed circle: someone must decide.
        raise Rejection(
            ErrorCode.NOT_ALLOWED,
            "A listed circle cannot admit everyone automatically. Turn off auto-admit, or "
            "do not list the circle.",
        )
    circle = Circle(
        id=frame.circle,
        root_key=frame.facilitator_key,
        verifier=frame.verifier,
        info=frame.info,
        opened_at=now,
        ends_at=now + frame.minutes * 60,
        capacity=frame.capacity,
        auto_admit=frame.auto_admit,
        listed=frame.listed,
        title=frame.title if frame.listed else None,
        secret=frame.secret if frame.listed else None,
    )
    if frame.listed and approver is not None and frame.approval is not None:
        circle.listing_approval = (approver, frame.approval.sig, conn.challenge)
    circle.buffer = type(circle.buffer)(maxlen=c.resume_buffer)
    member = Member(
        id=circle.new_member_id(),
        sign_key=frame.facilitator_key,
        box_key=bytes(32),
        address=conn.address,
        state=member_after(conn.state, "open"),
        role="facilitator",
        conn=conn.id,
    )
    circle.members[member.id] = member
    reg.circles[circle.id] = circle
    reg.stats.circles_opened += 1
    conn.state, conn.circle, conn.member = member.state, circle.id, member.id
    log.info("circle opened (%d open)", len(reg.circles))
    return [Send(conn.id, Opened(circle=circle.id, member=member.id, ends_at=circle.ends_at))]


def join_circle(reg: Registry, conn: Conn, frame: Join) -> list[Action]:
    circle = reg.circles.get(frame.circle)
    if circle is None or circle.state is CircleState.CLOSED:
        raise Rejection(
            ErrorCode.NO_SUCH_CIRCLE,
            "This invite is for a circle that has ended or never existed. Ask the "
            "facilitator for a fresh one.",
        )
    try:
        crypto.verify_admission(
            circle.verifier,
            frame.proof,
            conn.challenge,
            frame.circle,
            frame.sign_key,
            frame.box_key,
        )
    except CryptoError:
        raise Rejection(ErrorCode.BAD_PROOF, "This invite is not valid for this circle.") from None
    if frame.sign_key in circle.banned_keys or conn.address in circle.banned_addresses:
        raise Rejection(ErrorCode.BANNED, "You cannot join this circle.", CloseCode.BANNED)
    if any(m.sign_key == frame.sign_key for m in circle.members.values()):
        raise Rejection(ErrorCode.BAD_FIELD, "These keys are already in use; use fresh keys.")
    if circle.locked:
        raise Rejection(ErrorCode.CIRCLE_LOCKED, "This circle is not admitting anyone right now.")
    if circle.state is CircleState.PAUSED:
        raise Rejection(ErrorCode.ADMISSIONS_PAUSED, PAUSED_MESSAGE)
    if circle.seated_count() >= circle.capacity:
        raise Rejection(ErrorCode.CIRCLE_FULL, "This circle is full.")
    if circle.waiting_count() >= circle.capacity:
        raise Rejection(ErrorCode.CIRCLE_FULL, "The waiting room is full; try again soon.")
    member = Member(
        id=circle.new_member_id(),
        sign_key=frame.sign_key,
        box_key=frame.box_key,
        address=conn.address,
        state=member_after(conn.state, "join"),
        conn=conn.id,
    )
    circle.members[member.id] = member
    conn.state, conn.circle, conn.member = member.state, circle.id, member.id
    info = CircleInfo(
        circle=circle.id,
        member=member.id,
        facilitator_key=circle.root_key,
        info=circle.info,
        ends_at=circle.ends_at,
    )
    return [Send(conn.id, info)]


def knock(reg: Registry, circle: Circle, member: Member, frame: Knock) -> list[Action]:
    if member.state is MemberState.ADMITTED:
        # A seated member that missed part of the history asks to be welcomed again; its
        # seat does not change, and the lead answers with a welcome to where the circle is.
        return reg.to_facilitators(circle, knocked_frame(member, frame))
    if circle.state is CircleState.PAUSED:  # F6: nobody could admit them
        raise Rejection(ErrorCode.ADMISSIONS_PAUSED, PAUSED_MESSAGE)
    member.state = member_after(member.state, "knock")
    member.knock = frame.sealed
    member.knock_key = (frame.key, frame.x25519, frame.mlkem)
    reg.sync_conn(member)
    return reg.to_facilitators(circle, knocked_frame(member))


def knocked_frame(member: Member, frame: Knock | None = None) -> Knocked:
    """What the facilitators are shown of a knock: the member's own, or ``frame``."""
    knock = frame.sealed if frame is not None else member.knock
    key_id, x25519, mlkem = (
        (frame.key, frame.x25519, frame.mlkem) if frame is not None else member.knock_key
    )
    assert knock is not None
    return Knocked(
        member=member.id,
        sign_key=member.sign_key,
        box_key=member.box_key,
        sealed=knock,
        key=key_id,
        x25519=x25519,
        mlkem=mlkem,
    )


def welcome_frame(circle: Circle, target: Member, frame: Admit) -> Welcome:
    return Welcome(
        circle=circle.id,
        member=target.id,
        welcome=frame.welcome,
        ends_at=circle.ends_at,
        rseq=circle.rseq,
    )


def admit(reg: Registry, circle: Circle, frame: Admit) -> list[Action]:
    target = circle.members.get(frame.member)
    if target is not None and target.state is MemberState.ADMITTED and target.conn is not None:
        # A welcome to catch up (see ``knock``): passed on, nothing else changes.
        return [Send(target.conn, welcome_frame(circle, target, frame))]
    if target is None or target.state is not MemberState.WAITING:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "That person is no longer waiting.")
    if circle.seated_count() >= circle.capacity:
        raise Rejection(ErrorCode.CIRCLE_FULL, "The circle is full.")
    target.state = member_after(target.state, "admit")
    target.knock = None
    reg.sync_conn(target)
    out = reg.publish(circle, reg.notice(circle, "joined", target.id))
    assert target.conn is not None
    out.insert(0, Send(target.conn, welcome_frame(circle, target, frame)))
    if circle.phase is not None:  # the agenda phase was set before they came in
        out.append(Send(target.conn, phase_notice(reg, circle)))
    return out


def decline(reg: Registry, circle: Circle, frame: Decline) -> list[Action]:
    target = circle.members.get(frame.member)
    if target is None or target.state is not MemberState.WAITING:
        raise Rejection(ErrorCode.OUT_OF_ORDER, "That person is no longer waiting.")
    target.state = member_after(target.state, "decline")
    del circle.members[target.id]
    out: list[Action] = []
    if target.conn is not None:
        out += [
            Send(target.conn, Declined()),
            Close(target.conn, CloseCode.DECLINED, "declined"),
        ]
        reg.detach(target.conn)
    return out


def resume(reg: Registry, conn: Conn, frame: Resume) -> list[Action]:
    circle = reg.circles.get(frame.circle)
    member = circle.members.get(frame.member) if circle else None
    if circle is None or member is None or not member.seated:
        raise Rejection(
            ErrorCode.NO_SUCH_CIRCLE,
            "This circle has ended, or you are no longer in it.",
            CloseCode.CIRCLE_CLOSED,
        )
    try:
        handshake.verify_resume(member.sign_key, frame.proof, conn.challenge, circle.id, member.id)
    except CryptoError:
        raise Rejection(ErrorCode.BAD_SIGNATURE, "Could not prove who you are; rejoin.") from None
    out: list[Action] = []
    if member.conn is not None and member.conn != conn.id:
        out.append(Close(member.conn, CloseCode.GOING_AWAY, "resumed elsewhere"))
        reg.detach(member.conn)
    if member.state is MemberState.AWAY:
        member.state = member_after(member.state, "resume")
    member.conn = conn.id
    conn.state, conn.circle, conn.member = member.state, circle.id, member.id
    missed = [f for rseq, f in circle.buffer if rseq > frame.last_rseq]
    oldest = circle.buffer[0][0] if circle.buffer else circle.rseq + 1
    lost = frame.last_rseq + 1 < oldest and frame.last_rseq < circle.rseq
    reg.stats.resumes["lost" if lost else "complete"] += 1
    out.append(
        Send(
            conn.id,
            Resumed(
                circle=circle.id,
                member=member.id,
                missed=len(missed),
                lost=lost,
                ends_at=circle.ends_at,
            ),
        )
    )
    out += [Send(conn.id, f) for f in missed]
    if circle.phase is not None or lost:  # the phase notice may be among the lost frames
        out.append(Send(conn.id, phase_notice(reg, circle)))
    if member.is_facilitator:
        out += [
            Send(conn.id, knocked_frame(m))
            for m in circle.members.values()
            if m.state is MemberState.WAITING
        ]
        out += reg.check_facilitator_presence(circle)
    return out
