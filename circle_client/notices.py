"""Neutral notice texts (F17): what members see, with handles filled in locally."""

from __future__ import annotations

from protocol.frames import PHASES, Notice, phase_action

TEMPLATES = {
    "joined": "{who} joined the circle",
    "left": "{who} left the circle",
    "remove": "{who} was removed by a facilitator",
    "ban": "{who} was removed and cannot come back",
    "mute": "{who} was muted for {minutes} min",
    "unmute": "{who} can talk again",
    "lock": "The circle is locked: no one new can join",
    "unlock": "The circle is open to new people again",
    "round_start": "A go-around started. Order: {order}",
    "round_next": "Next to share: {speaker}",
    "round_end": "The go-around has ended",
    "pass": "{who} passed",
    "delegate": "{who} is now a co-facilitator",
    "revoke": "{who} is no longer a co-facilitator",
    "handover": "{who} is now the facilitator",
    "extend": "The session was extended by {minutes} min",
    "paused": "No facilitator is connected: admissions are paused",
    "restart": "This server restarts in {seconds} s",
    "warn": "A facilitator sent you a private note",
    **{phase_action(phase): f"Agenda phase: {phase}" for phase in PHASES},
    phase_action(None): "The agenda phase was cleared",
}


def notice_text(notice: Notice, handle_of: dict[int, str]) -> str:
    def name(member: int | None) -> str:
        if member is None:
            return "someone"
        return handle_of.get(member, "someone")

    if notice.action == "slow":
        if notice.seconds:
            return f"Slow mode: one message every {notice.seconds} s"
        return "Slow mode is off"
    order = ", ".join(name(m) for m in notice.order) or "nobody"
    speaker = name(notice.order[0]) if notice.order else "nobody"
    template = TEMPLATES.get(notice.action, "{action}")
    return template.format(
        who=name(notice.target),
        minutes=notice.minutes or 0,
        seconds=notice.seconds or 0,
        order=order,
        speaker=speaker,
        action=notice.action,
    )
