"""Slash commands: one table, used for parsing, completion, help and the command palette."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.frames import PHASES


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    facilitator: bool = False


COMMANDS = (
    Command("me", "/me TEXT", "Describe what you do (shown as * handle TEXT)"),
    Command("reply", "/reply N TEXT", "Reply to message #N"),
    Command("react", "/react N hear|same|strength|thanks", "A supportive reaction to #N"),
    Command("takeback", "/takeback N", "Take back your own message #N from everyone's screen"),
    Command("cw", "/cw LABEL: TEXT", "Send with a content warning; readers open it themselves"),
    Command("open", "/open N", "Open the content-warned or filtered message #N"),
    Command("concern", "/concern N NOTE", "Tell the facilitators privately about message #N"),
    Command("hide", "/hide HANDLE", "Hide someone's messages, for you only"),
    Command("unhide", "/unhide HANDLE", "Show someone's messages again"),
    Command("filter", "/filter WORD", "Collapse messages with WORD, for you only"),
    Command("unfilter", "/unfilter [WORD]", "Remove one filter word, or all"),
    Command("fingerprint", "/fingerprint", "Show the circle fingerprint to compare aloud"),
    Command("pass", "/pass", "Pass your turn in a go-around"),
    Command("crisis", "/crisis", "Show crisis resources (only on your screen)"),
    Command("riskcheck", "/riskcheck on|off", "The private check of your drafts, for this circle"),
    Command("help", "/help", "Keys, commands and crisis resources"),
    Command("leave", "/leave [MOOD]", "Leave; optionally check out: rough, low, okay, good, great"),
    Command("admit", "/admit HANDLE", "Let someone in from the waiting room", True),
    Command("decline", "/decline HANDLE", "Turn a knock away", True),
    Command("warn", "/warn HANDLE TEXT", "A private note to one person", True),
    Command("mute", "/mute HANDLE MINUTES", "Mute someone for a while", True),
    Command("unmute", "/unmute HANDLE", "Let someone talk again", True),
    Command("remove", "/remove HANDLE", "Remove someone (they can knock again)", True),
    Command("ban", "/ban HANDLE", "Remove someone for the rest of the circle", True),
    Command("lock", "/lock", "No new admissions", True),
    Command("unlock", "/unlock", "Admissions open again", True),
    Command("slow", "/slow SECONDS", "Slow mode: one message per SECONDS (0 = off)", True),
    Command(
        "round", "/round [SECONDS] [HANDLE ...]", "Start a go-around (everyone, in order)", True
    ),
    Command("next", "/next", "Next speaker in the go-around", True),
    Command("endround", "/endround", "End the go-around", True),
    Command("extend", "/extend MINUTES", "Extend the session", True),
    Command(
        "phase",
        "/phase PHASE",
        "Agenda phase by the clock: check-in, sharing, check-out, none",
        True,
    ),
    Command("pin", "/pin TEXT", "Pin a note for everyone", True),
    Command("co", "/co HANDLE", "Make someone a co-facilitator", True),
    Command("revoke", "/revoke HANDLE", "Take co-facilitation back", True),
    Command("handover", "/handover HANDLE", "Hand the circle over to someone", True),
    Command("invite", "/invite", "Show the invite, ready to copy", True),
    Command("tally", "/tally", "Anonymous check-in mood tally", True),
    Command("close", "/close", "Close the circle for everyone now", True),
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


class CommandError(ValueError):
    """A command could not be understood; the message shows the right usage."""


def parse(text: str) -> tuple[Command, list[str], str]:
    """``/name args...`` -> (command, words, rest of the line after the name)."""
    name, _, rest = text[1:].partition(" ")
    command = BY_NAME.get(name.lower())
    if command is None:
        raise CommandError(f"There is no /{name} command. Type /help to see them all.")
    return command, rest.split(), rest.strip()


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
