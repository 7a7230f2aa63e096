"""Slash commands: one table, used for parsing, completion, help, the command palette and
running them. Each command is a handler that acts on a :class:`Circle` (the circle screen, or
a test double): no Textual here, so every command is tested without a terminal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from protocol.content import MOODS
from protocol.frames import PHASES

if TYPE_CHECKING:
    from circle_client.session import ModerateOptions


class CommandError(ValueError):
    """A command could not be understood; the message shows the right usage."""


class Actions(Protocol):
    """What commands send: the typed methods of :class:`~circle_client.client.CircleClient`."""

    async def react(self, target: tuple[int, int, int], reaction: str) -> None: ...

    async def retract(self, target: tuple[int, int, int]) -> None: ...

    async def concern(self, target: tuple[int, int, int] | None, note: str) -> None: ...

    async def pass_turn(self) -> None: ...

    async def pin(self, body: str) -> None: ...

    async def admit(self, member: int) -> None: ...

    async def decline(self, member: int) -> None: ...

    async def moderate(self, action: str, **options: Unpack[ModerateOptions]) -> None: ...

    async def set_phase(self, phase: str | None) -> None: ...


class Circle(Protocol):
    """What a slash command may do to the circle on this screen."""

    @property
    def actions(self) -> Actions:
        """Where commands that reach the others go (the connection)."""
        ...

    @property
    def facilitating(self) -> bool: ...

    @property
    def lead(self) -> bool: ...

    def message_id(self, number: int, *, mine: bool = False) -> tuple[int, int, int]:
        """The id of message ``#number`` (as everyone sees it); CommandError if none."""
        ...

    def member(self, handle: str) -> int:
        """The member called ``handle`` in the circle; CommandError if none."""
        ...

    def knocker(self, handle: str) -> int:
        """Who is knocking as ``handle`` (the first knock if empty); CommandError if none."""
        ...

    def everyone(self) -> tuple[int, ...]: ...

    def handle(self, member: int) -> str: ...

    def note(self, text: str, kind: str = "system") -> None: ...

    def open_message(self, number: int) -> bool: ...

    def hide(self, member: int, hidden: bool) -> None: ...

    def filter(self, word: str | None, add: bool) -> None: ...

    def set_risk_check(self, on: bool) -> None:
        """Turn the private risk-language check of drafts on or off for this circle (F13)."""
        ...

    def show(self, what: str) -> None:
        """Show something only to this person: crisis, help, fingerprint, invite, tally."""
        ...

    async def post(self, body: str, *, draft: str, **options: Any) -> None:
        """Send a message after the local safety checks (F13, F14)."""
        ...

    def knock_answered(self, member: int) -> None:
        """A knock was admitted or declined: it leaves the waiting room at once."""
        ...

    async def confirm(self, title: str, text: str, yes: str, no: str = "Cancel") -> bool: ...

    async def confirm_ends_here(self, doing: str) -> bool: ...

    async def leave(self, mood: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One typed command: ``/name words...``; ``rest`` is everything after the name."""

    command: Command
    words: list[str]
    rest: str
    text: str

    def usage(self) -> CommandError:
        return CommandError(f"Usage: {self.command.usage}")

    def after_first(self) -> str:
        """The text after the first word (``/reply 4 this part``)."""
        return self.rest.split(" ", 1)[1] if " " in self.rest else ""

    def number(self) -> int:
        return number_arg(self.words, self.command)

    def first_member(self, circle: Circle) -> int:
        if not self.words:
            raise self.usage()
        return circle.member(self.words[0])


Handler = Callable[[Circle, Call], Awaitable[None]]


async def do_riskcheck(circle: Circle, call: Call) -> None:
    circle.set_risk_check(choice_arg(call.words, call.command) == "on")


async def do_me(circle: Circle, call: Call) -> None:
    await circle.post(call.rest, draft=call.text, me=True)


async def do_reply(circle: Circle, call: Call) -> None:
    target = circle.message_id(call.number())
    await circle.post(call.after_first(), draft=call.text, reply_to=target)


async def do_react(circle: Circle, call: Call) -> None:
    target = circle.message_id(call.number())
    reaction = REACTION_WORDS.get(call.words[1] if len(call.words) > 1 else "")
    if reaction is None:
        raise call.usage()
    await circle.actions.react(target, reaction)


async def do_takeback(circle: Circle, call: Call) -> None:
    await circle.actions.retract(circle.message_id(call.number(), mine=True))


async def do_cw(circle: Circle, call: Call) -> None:
    label, sep, body = call.rest.partition(":")
    if not sep or not body.strip() or not label.strip():
        raise call.usage()
    await circle.post(body.strip(), draft=call.text, warning=label.strip()[:80])


async def do_open(circle: Circle, call: Call) -> None:
    if not circle.open_message(call.number()):
        raise CommandError("There is no such message.")


async def do_concern(circle: Circle, call: Call) -> None:
    target = circle.message_id(call.number())
    await circle.actions.concern(target, call.after_first() or "(no note)")
    circle.note("Your concern was sent privately to the facilitators.")


async def do_hide(circle: Circle, call: Call) -> None:
    circle.hide(call.first_member(circle), call.command.name == "hide")


async def do_filter(circle: Circle, call: Call) -> None:
    if not call.words:
        raise call.usage()
    circle.filter(call.rest.casefold(), add=True)


async def do_unfilter(circle: Circle, call: Call) -> None:
    circle.filter(call.rest.casefold() if call.words else None, add=False)


async def do_show(circle: Circle, call: Call) -> None:
    circle.show(call.command.name)


async def do_pass(circle: Circle, call: Call) -> None:
    await circle.actions.pass_turn()


async def do_leave(circle: Circle, call: Call) -> None:
    mood = call.words[0].lower() if call.words else None
    if mood is not None and mood not in MOODS:
        raise call.usage()
    if await circle.confirm_ends_here("leave"):
        await circle.leave(mood)


async def do_admit(circle: Circle, call: Call) -> None:
    member = circle.knocker(call.words[0] if call.words else "")
    if call.command.name == "admit":
        await circle.actions.admit(member)
    else:
        await circle.actions.decline(member)
    circle.knock_answered(member)


async def do_warn(circle: Circle, call: Call) -> None:
    target = call.first_member(circle)
    note = call.after_first()
    if not note:
        raise call.usage()
    await circle.actions.moderate("warn", target=target, note=note)  # confirmed on delivery


async def do_mute(circle: Circle, call: Call) -> None:
    target = call.first_member(circle)
    if len(call.words) < 2 or not call.words[1].isdigit():
        raise call.usage()
    await circle.actions.moderate("mute", target=target, minutes=int(call.words[1]))


async def do_extend(circle: Circle, call: Call) -> None:
    if not call.words or not call.words[0].isdigit():
        raise call.usage()
    await circle.actions.moderate("extend", minutes=int(call.words[0]))


async def do_slow(circle: Circle, call: Call) -> None:
    if not call.words or not call.words[0].isdigit():
        raise call.usage()
    await circle.actions.moderate("slow", seconds=int(call.words[0]))


MODERATE_ACTIONS = {"co": "delegate", "next": "round_next", "endround": "round_end"}


async def do_moderate(circle: Circle, call: Call) -> None:
    """Moderation on its own (/lock, /next) or on one member (/remove HANDLE)."""
    name = call.command.name
    action = MODERATE_ACTIONS.get(name, name)
    if "HANDLE" not in call.command.usage:
        await circle.actions.moderate(action)
        return
    target = call.first_member(circle)
    if name == "handover" and not await circle.confirm_ends_here("hand it over"):
        return
    await circle.actions.moderate(action, target=target)


async def do_close(circle: Circle, call: Call) -> None:
    if await circle.confirm(
        "Close the circle?",
        "This ends the circle for everyone in it, now. Its messages are gone for good.",
        "Close it for everyone",
        "Keep it open",
    ):
        await circle.actions.moderate("close")


async def do_round(circle: Circle, call: Call) -> None:
    seconds = int(call.words[0]) if call.words and call.words[0].isdigit() else None
    handles = [w for w in call.words if not w.isdigit()]
    order = tuple(circle.member(h) for h in handles) or circle.everyone()
    await circle.actions.moderate("round_start", order=order, seconds=seconds)


async def do_phase(circle: Circle, call: Call) -> None:
    phase = choice_arg(call.words, call.command)
    await circle.actions.set_phase(None if phase == "none" else phase)


async def do_pin(circle: Circle, call: Call) -> None:
    if not call.rest:
        raise call.usage()
    await circle.actions.pin(call.rest)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    facilitator: bool = False
    run: Handler = do_show
    lead_only: bool = False
    """Only the lead facilitator (not a co-facilitator) may run it."""


COMMANDS = (
    Command("me", "/me TEXT", "Describe what you do (shown as * handle TEXT)", run=do_me),
    Command("reply", "/reply N TEXT", "Reply to message #N", run=do_reply),
    Command(
        "react", "/react N hear|same|strength|thanks", "A supportive reaction to #N", run=do_react
    ),
    Command(
        "takeback",
        "/takeback N",
        "Take back your own message #N from everyone's screen",
        run=do_takeback,
    ),
    Command(
        "cw",
        "/cw LABEL: TEXT",
        "Send with a content warning; readers open it themselves",
        run=do_cw,
    ),
    Command("open", "/open N", "Open the content-warned or filtered message #N", run=do_open),
    Command(
        "concern",
        "/concern N NOTE",
        "Tell the facilitators privately about message #N",
        run=do_concern,
    ),
    Command("hide", "/hide HANDLE", "Hide someone's messages, for you only", run=do_hide),
    Command("unhide", "/unhide HANDLE", "Show someone's messages again", run=do_hide),
    Command("filter", "/filter WORD", "Collapse messages with WORD, for you only", run=do_filter),
    Command("unfilter", "/unfilter [WORD]", "Remove one filter word, or all", run=do_unfilter),
    Command(
        "fingerprint", "/fingerprint", "Show the circle fingerprint to compare aloud", run=do_show
    ),
    Command("pass", "/pass", "Pass your turn in a go-around", run=do_pass),
    Command("crisis", "/crisis", "Show crisis resources (only on your screen)", run=do_show),
    Command(
        "riskcheck",
        "/riskcheck on|off",
        "The private check of your drafts, for this circle",
        run=do_riskcheck,
    ),
    Command("help", "/help", "Keys, commands and crisis resources", run=do_show),
    Command(
        "leave",
        "/leave [MOOD]",
        "Leave; optionally check out: rough, low, okay, good, great",
        run=do_leave,
    ),
    Command(
        "admit",
        "/admit HANDLE",
        "Let someone in from the waiting room",
        facilitator=True,
        run=do_admit,
        lead_only=True,
    ),
    Command(
        "decline",
        "/decline HANDLE",
        "Turn a knock away",
        facilitator=True,
        run=do_admit,
        lead_only=True,
    ),
    Command(
        "warn", "/warn HANDLE TEXT", "A private note to one person", facilitator=True, run=do_warn
    ),
    Command(
        "mute", "/mute HANDLE MINUTES", "Mute someone for a while", facilitator=True, run=do_mute
    ),
    Command(
        "unmute", "/unmute HANDLE", "Let someone talk again", facilitator=True, run=do_moderate
    ),
    Command(
        "remove",
        "/remove HANDLE",
        "Remove someone (they can knock again)",
        facilitator=True,
        run=do_moderate,
    ),
    Command(
        "ban",
        "/ban HANDLE",
        "Remove someone for the rest of the circle",
        facilitator=True,
        run=do_moderate,
    ),
    Command("lock", "/lock", "No new admissions", facilitator=True, run=do_moderate),
    Command("unlock", "/unlock", "Admissions open again", facilitator=True, run=do_moderate),
    Command(
        "slow",
        "/slow SECONDS",
        "Slow mode: one message per SECONDS (0 = off)",
        facilitator=True,
        run=do_slow,
    ),
    Command(
        "round",
        "/round [SECONDS] [HANDLE ...]",
        "Start a go-around (everyone, in order)",
        facilitator=True,
        run=do_round,
    ),
    Command("next", "/next", "Next speaker in the go-around", facilitator=True, run=do_moderate),
    Command("endround", "/endround", "End the go-around", facilitator=True, run=do_moderate),
    Command("extend", "/extend MINUTES", "Extend the session", facilitator=True, run=do_extend),
    Command(
        "phase",
        "/phase PHASE",
        "Agenda phase by the clock: check-in, sharing, check-out, none",
        facilitator=True,
        run=do_phase,
    ),
    Command(
        "pin", "/pin TEXT", "Pin a note for everyone", facilitator=True, run=do_pin, lead_only=True
    ),
    Command(
        "co",
        "/co HANDLE",
        "Make someone a co-facilitator",
        facilitator=True,
        run=do_moderate,
        lead_only=True,
    ),
    Command(
        "revoke",
        "/revoke HANDLE",
        "Take co-facilitation back",
        facilitator=True,
        run=do_moderate,
        lead_only=True,
    ),
    Command(
        "handover",
        "/handover HANDLE",
        "Hand the circle over to someone",
        facilitator=True,
        run=do_moderate,
        lead_only=True,
    ),
    Command(
        "invite",
        "/invite",
        "Show the invite, ready to copy",
        facilitator=True,
        run=do_show,
        lead_only=True,
    ),
    Command(
        "tally",
        "/tally",
        "Anonymous check-in mood tally",
        facilitator=True,
        run=do_show,
        lead_only=True,
    ),
    Command("close", "/close", "Close the circle for everyone now", facilitator=True, run=do_close),
)
BY_NAME = {c.name: c for c in COMMANDS}
REACTION_WORDS = {
    "hear": "i_hear_you",
    "same": "same_here",
    "strength": "sending_strength",
    "thanks": "thank_you",
}


CHOICES = {"phase": (*PHASES, "none"), "riskcheck": ("on", "off")}
"""Commands whose one argument is a fixed word: Tab completes it, parsing checks it."""


def parse(text: str) -> Call:
    """``/name args...`` -> the command and its words."""
    name, _, rest = text[1:].partition(" ")
    command = BY_NAME.get(name.lower())
    if command is None:
        raise CommandError(f"There is no /{name} command. Type /help to see them all.")
    return Call(command, rest.split(), rest.strip(), text)


async def run(circle: Circle, text: str) -> None:
    """Run one typed command on ``circle``; CommandError says what to fix."""
    call = parse(text)
    command = call.command
    if command.facilitator and not circle.facilitating:
        raise CommandError(f"/{command.name} is for the facilitator.")
    if command.lead_only and not circle.lead:
        raise CommandError(f"/{command.name} is for the lead facilitator.")
    await command.run(circle, call)


def complete(prefix: str, facilitator: bool) -> list[str]:
    """Command names starting with ``prefix`` (without the slash)."""
    return [
        c.name
        for c in COMMANDS
        if c.name.startswith(prefix.lower()) and (facilitator or not c.facilitator)
    ]


def number_arg(words: list[str], command: Command) -> int:
    if not words or not words[0].lstrip("#").isdigit():
        raise CommandError(f"Usage: {command.usage}")
    return int(words[0].lstrip("#"))


def completions(text: str, facilitator: bool) -> tuple[str, list[str]] | None:
    """What Tab completes in a draft: a command name, or the fixed word a command takes.

    Returns the text before the word and the candidates for it, or None when Tab has nothing
    to complete there (not a command, or a command without fixed words).
    """
    if not text.startswith("/"):
        return None
    name, space, word = text[1:].partition(" ")
    if not space:
        return "/", complete(name, facilitator)
    command = BY_NAME.get(name.lower())
    if command is None or command.name not in CHOICES or " " in word:
        return None
    if command.facilitator and not facilitator:
        return None
    return f"/{name} ", [c for c in CHOICES[command.name] if c.startswith(word.lower())]


def choice_arg(words: list[str], command: Command) -> str:
    """The one fixed word ``command`` takes; the error lists every choice."""
    choices = CHOICES[command.name]
    if len(words) != 1 or words[0].lower() not in choices:
        raise CommandError(f"Usage: /{command.name} {'|'.join(choices)}")
    return words[0].lower()
