"""Slash commands are handlers in one table, tested here without
Textual: a plain stand-in for the circle records what each command asked for."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from circle_client import commands
from circle_client.commands import COMMANDS, CommandError

MESSAGES = {7: ((3, 1, 4), False), 9: ((2, 1, 1), True)}  # number -> (id, mine)
ROSTER = {"calm-heron": 1, "quiet-otter": 2, "gentle-lynx": 3}


class Sent:
    """The connection a command sends through: records each call by its method's name."""

    def __init__(self, done: list[tuple[Any, ...]]) -> None:
        self.done = done

    def __getattr__(self, name: str) -> Any:
        async def send(*args: Any, **kwargs: Any) -> None:
            self.done.append(("act", name, args, kwargs))

        return send


class StandIn:
    """A circle for commands to act on, remembering every request."""

    def __init__(self, facilitating: bool = True, lead: bool = True, yes: bool = True) -> None:
        self.facilitating, self.lead, self.yes = facilitating, lead, yes
        self.done: list[tuple[Any, ...]] = []
        self.actions = Sent(self.done)

    def message_id(self, number: int, *, mine: bool = False) -> tuple[int, int, int]:
        if number not in MESSAGES:
            raise CommandError("There is no such message.")
        id, own = MESSAGES[number]
        if mine and not own:
            raise CommandError("You can only take back your own messages.")
        return id

    def member(self, handle: str) -> int:
        if handle not in ROSTER:
            raise CommandError(f"No one called {handle} is in the circle.")
        return ROSTER[handle]

    def knocker(self, handle: str) -> int:
        return 4

    def everyone(self) -> tuple[int, ...]:
        return (1, 2, 3)

    def handle(self, member: int) -> str:
        return {v: k for k, v in ROSTER.items()}[member]

    def note(self, text: str, kind: str = "system") -> None:
        self.done.append(("note", text))

    def open_message(self, number: int) -> bool:
        self.done.append(("open", number))
        return number in MESSAGES

    def hide(self, member: int, hidden: bool) -> None:
        self.done.append(("hide", member, hidden))

    def filter(self, word: str | None, add: bool) -> None:
        self.done.append(("filter", word, add))

    def show(self, what: str) -> None:
        self.done.append(("show", what))

    def set_risk_check(self, on: bool) -> None:
        self.done.append(("risk_check", on))

    async def post(self, body: str, *, draft: str, **options: Any) -> None:
        self.done.append(("post", body, draft, options))

    def knock_answered(self, member: int) -> None:
        self.done.append(("answered", member))

    async def confirm(self, title: str, text: str, yes: str, no: str = "Cancel") -> bool:
        self.done.append(("asked", title))
        return self.yes

    async def confirm_ends_here(self, doing: str) -> bool:
        self.done.append(("asked", doing))
        return self.yes

    async def leave(self, mood: str | None) -> None:
        self.done.append(("leave", mood))


async def run(text: str, circle: StandIn | None = None) -> list[tuple[Any, ...]]:
    circle = circle or StandIn()
    await commands.run(circle, text)
    return circle.done


async def test_numbers_name_the_message_everyone_sees() -> None:
    assert await run("/reply 7 me too") == [
        ("post", "me too", "/reply 7 me too", {"reply_to": (3, 1, 4)})
    ]
    assert await run("/react #7 hear") == [("act", "react", ((3, 1, 4), "i_hear_you"), {})]
    assert await run("/takeback 9") == [("act", "retract", ((2, 1, 1),), {})]
    with pytest.raises(CommandError, match="only take back your own"):
        await run("/takeback 7")
    with pytest.raises(CommandError, match="no such message"):
        await run("/concern 8 worried")


async def test_usage_errors_say_how() -> None:
    for text in ("/react 7 nope", "/mute gentle-lynx", "/cw no colon", "/leave sideways"):
        with pytest.raises(CommandError, match="Usage: /"):
            await run(text)
    with pytest.raises(CommandError, match="no /shout command"):
        await run("/shout hi")


async def test_who_may_run_what() -> None:
    member = StandIn(facilitating=False, lead=False)
    with pytest.raises(CommandError, match="for the facilitator"):
        await run("/remove gentle-lynx", member)
    co = StandIn(facilitating=True, lead=False)
    with pytest.raises(CommandError, match="lead facilitator"):
        await run("/pin topic", co)
    assert await run("/mute gentle-lynx 5", co) == [
        ("act", "moderate", ("mute",), {"target": 3, "minutes": 5})
    ]


async def test_close_and_handover_ask_first() -> None:
    assert await run("/close", StandIn(yes=False)) == [("asked", "Close the circle?")]
    assert (await run("/close"))[-1] == ("act", "moderate", ("close",), {})
    assert await run("/handover gentle-lynx", StandIn(yes=False)) == [("asked", "hand it over")]
    done = await run("/handover gentle-lynx")
    assert done[-1] == ("act", "moderate", ("handover",), {"target": 3})


async def test_warn_sends_the_note_and_round_takes_everyone() -> None:
    done = await run("/warn gentle-lynx please keep names out")
    # Only the note goes: the confirmation waits for the server's delivery (WarningDelivered).
    assert done == [("act", "moderate", ("warn",), {"target": 3, "note": "please keep names out"})]
    assert await run("/round 60") == [
        ("act", "moderate", ("round_start",), {"order": (1, 2, 3), "seconds": 60})
    ]


async def test_admit_and_decline_send_and_empty_the_waiting_room_at_once() -> None:
    assert await run("/admit quiet-otter") == [("act", "admit", (4,), {}), ("answered", 4)]
    assert await run("/decline quiet-otter") == [("act", "decline", (4,), {}), ("answered", 4)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
async def test_every_command_runs_or_explains(command: commands.Command) -> None:
    """Each command in the table, with its usage's placeholders filled in, either acts or
    raises CommandError: never anything else."""
    sample = {
        "N": "7",
        "TEXT": "hello",
        "HANDLE": "gentle-lynx",
        "MINUTES": "5",
        "SECONDS": "30",
        "NOTE": "a note",
        "LABEL:": "grief:",
        "PHASE": "sharing",
        "WORD": "funeral",
        "[WORD]": "",
        "[MOOD]": "okay",
        "[SECONDS]": "60",
        "[HANDLE": "",
        "...]": "",
        "hear|same|strength|thanks": "hear",
        "on|off": "off",
    }
    words = [sample.get(w, w) for w in command.usage.split()[1:]]
    text = " ".join(["/" + command.name, *[w for w in words if w]])
    try:
        done = await run(text)
    except CommandError as exc:
        assert str(exc)
    else:
        assert done, f"{text} did nothing"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_commands_need_no_textual_and_screens_never_import_the_app() -> None:
    """Attributes down, messages up: the command table is plain Python, and every screen,
    dialog and widget (the circle screen too) gets what it needs in its constructor instead
    of importing the App or reaching into it."""
    package = Path(commands.__file__).parent
    assert not any(m.startswith("textual") for m in imported_modules(package / "commands.py"))
    modules = sorted((package / "tui").glob("*.py"))
    assert len(modules) > 8
    for path in modules:
        if path.name == "app.py":
            continue
        assert "circle_client.tui.app" not in imported_modules(path), path.name
        source = path.read_text()
        assert "circle_app" not in source and "CircleApp" not in source, path.name


def test_modules_stay_small() -> None:
    """No module of the client grows past about 600 lines."""
    package = Path(commands.__file__).parent
    for path in package.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 620, path.name


async def test_riskcheck_is_the_persons_own_switch() -> None:
    assert await run("/riskcheck off") == [("risk_check", False)]
    assert await run("/riskcheck on") == [("risk_check", True)]
    with pytest.raises(CommandError):
        await run("/riskcheck maybe")
