"""A circle's server state as msgpack bytes, so another node can take it over (scale-out).

Only what the registry itself holds goes in: opaque ids, public keys, the admission verifier,
keyed address hashes, timers and flags, never anything a member wrote in the clear (the server
has nothing of that). The resume buffer travels separately, one encoded frame at a time
(docs/scale-out.md). Loading marks every seated member away: their connections were on the
node that died, and they come back with a signed ``resume``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgpack

from circle_server.circle import Circle, Member, Round
from protocol.frames import PHASES, Frame
from protocol.states import CircleState, MemberState, member_after

SNAPSHOT_VERSION = 4
"""Version 2 added the agenda phase at the end, version 3 the listing approval after it;
older snapshots still load, so a node of the previous release can hand its circles over
during a rolling upgrade."""
READABLE_VERSIONS = frozenset({1, 2, 3, SNAPSHOT_VERSION})


class SnapshotError(ValueError):
    """The stored snapshot is unreadable; the circle cannot be taken over."""


def _member(m: Member) -> list[Any]:
    return [
        m.id,
        m.sign_key,
        m.box_key,
        m.address,
        m.state.value,
        m.role,
        m.knock,
        m.muted_until,
        m.last_post,
        m.away_since,
        list(m.concerns),
        m.checked_out,
        list(m.knock_key),
        m.key_epoch,
    ]


def dump_circle(circle: Circle) -> bytes:
    """Everything but the resume buffer and live connections."""
    rnd = circle.round
    data: bytes = msgpack.packb(
        [
            SNAPSHOT_VERSION,
            circle.id,
            circle.root_key,
            circle.verifier,
            circle.info,
            circle.opened_at,
            circle.ends_at,
            circle.capacity,
            circle.auto_admit,
            circle.listed,
            circle.title,
            circle.secret,
            circle.state.value,
            circle.locked,
            circle.slow_seconds,
            [_member(m) for m in circle.members.values()],
            circle.next_member,
            sorted(circle.banned_keys),
            sorted(circle.banned_addresses),
            sorted(circle.moderation_seq.items()),
            sorted(circle.warnings_sent),
            [rnd.order, rnd.share_seconds, rnd.turn_started] if rnd else None,
            circle.rseq,
            circle.paused_until,
            circle.phase,
            list(circle.listing_approval) if circle.listing_approval else None,
            circle.epoch,
        ],
        use_bin_type=True,
    )
    return data


def load_circle(
    data: bytes,
    buffer: list[tuple[int, Frame]],
    maxlen: int,
    now: float,
    max_bytes: int = 2 * 1024 * 1024,
) -> Circle:
    """Rebuild a circle on a new owner. Seated members become away (since ``now``); people who
    were still in the waiting room are dropped: they knock again."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
        if raw[0] not in READABLE_VERSIONS:
            raise SnapshotError(f"snapshot version {raw[0]} is not {SNAPSHOT_VERSION}")
        if raw[0] == 1:
            raw = [*raw, None]  # no agenda phase yet
        if raw[0] in (1, 2):
            raw = [*raw, None]  # no listing approval yet
        if raw[0] in (1, 2, 3):
            raw = [*raw, 0]  # no epoch counted yet
        (
            _,
            cid,
            root_key,
            verifier,
            info,
            opened_at,
            ends_at,
            capacity,
            auto_admit,
            listed,
            title,
            secret,
            state,
            locked,
            slow_seconds,
            members,
            next_member,
            banned_keys,
            banned_addresses,
            moderation_seq,
            warnings_sent,
            rnd,
            rseq,
            paused_until,
            phase,
            approval,
            epoch,
        ) = raw
        if phase is not None and phase not in PHASES:
            raise SnapshotError(f"unknown agenda phase {phase!r}")
        if approval is not None and len(approval) != 3:
            raise SnapshotError("the listing approval is unreadable")
        circle = Circle(
            id=cid,
            root_key=root_key,
            verifier=verifier,
            info=info,
            opened_at=opened_at,
            ends_at=ends_at,
            capacity=capacity,
            auto_admit=auto_admit,
            listed=listed,
            title=title,
            secret=secret,
            state=CircleState(state),
            locked=locked,
            slow_seconds=slow_seconds,
            next_member=next_member,
            banned_keys=set(banned_keys),
            banned_addresses=set(banned_addresses),
            moderation_seq=dict(moderation_seq),
            warnings_sent=set(warnings_sent),
            round=Round(list(rnd[0]), rnd[1], rnd[2]) if rnd else None,
            rseq=rseq,
            paused_until=paused_until,
            phase=phase,
            listing_approval=tuple(approval) if approval else None,
            epoch=epoch,
        )
        for fields in members:
            member = Member(
                id=fields[0],
                sign_key=fields[1],
                box_key=fields[2],
                address=fields[3],
                state=MemberState(fields[4]),
                role=fields[5],
                knock=fields[6],
                muted_until=fields[7],
                last_post=fields[8],
                away_since=fields[9],
                concerns=deque(fields[10], maxlen=8),
                checked_out=fields[11],
                knock_key=(fields[12][0], fields[12][1], fields[12][2])
                if len(fields) > 12
                else (0, b"", b""),
                key_epoch=fields[13] if len(fields) > 13 else 0,
            )
            if member.state is MemberState.ADMITTED:
                member.state = member_after(member.state, "drop")
                member.away_since = now
            if member.state is MemberState.AWAY:
                circle.members[member.id] = member
    except SnapshotError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, msgpack.UnpackException):
        raise SnapshotError("the stored circle state is unreadable") from None
    circle.buffer = deque(maxlen=maxlen)
    for rseq, frame in buffer:
        circle.keep(rseq, frame, max_bytes)
    if buffer:
        circle.rseq = max(circle.rseq, buffer[-1][0])
    return circle
