"""The circle: transcript, members, composer, clock; the facilitator's waiting room and inbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from circle_client import events as ev
from circle_client.commands import REACTION_WORDS, CommandError, choice_arg, number_arg, parse
from circle_client.safety import oversharing, risk_language
from circle_client.transcript import Transcript
from circle_client.tui.modals import ConfirmScreen, CrisisScreen, LeaveScreen
from circle_client.tui.widgets import Composer, TranscriptView, WaitingRoom
from protocol.content import MOODS
from protocol.errors import CircleError, ErrorCode

if TYPE_CHECKING:
    from circle_client.session import Session
    from circle_client.tui.app import CircleApp

RISK_CHECK_NOTES = {
    True: "The private check of your drafts is on: if a draft sounds like you may be in danger, "
    "Circle shows the crisis resources before sending. Only you see it.",
    False: "The private check of your drafts is off for this circle. That is your choice; it "
    "is not sent anywhere. F2 still shows the crisis resources, and /riskcheck on turns it back.",
}
LEAD_ONLY = {"admit", "decline", "pin", "co", "revoke", "handover", "invite", "tally"}
REFUSALS = {ErrorCode.MUTED, ErrorCode.NOT_YOUR_TURN, ErrorCode.SLOW_MODE, ErrorCode.RATE_LIMITED}


class CircleScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+f", "fingerprint", "Fingerprint"),
        Binding("ctrl+l", "leave", "Leave"),
    ]

    def __init__(self, title: str, lead: bool) -> None:
        super().__init__()
        self.circle_title = title
        self.lead = lead
        self.transcript = Transcript(clock=self.circle_app_clock)
        self.roster: tuple[tuple[int, str, str], ...] = ()
        self.last_draft = ""
        self.risk_check = True  # the person's own choice for this circle; never sent (F13)
        self.risk_prompted = False  # at most once per draft: until the next message is sent
        self.round: tuple[int, ...] = ()
        self.share_seconds: int | None = None
        self.turn_started = 0.0
        self.phase: str | None = None
        self.flags: dict[str, str] = {}
        self.concerns: list[str] = []
        self.told_renamed = False

    def circle_app_clock(self) -> float:
        return self.circle_app.clock()

    @property
    def circle_app(self) -> CircleApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        client = self.circle_app.client
        assert client is not None
        return client.session

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        with Horizontal(id="circle-body"):
            yield TranscriptView(self.transcript, id="transcript")
            with Vertical(id="side"):
                yield Static("", id="members")
                yield WaitingRoom(id="waiting-room")
                yield Static("", id="inbox")
                yield Static("", id="pinned")
        composer = Composer(id="composer", soft_wrap=True, show_line_numbers=False)
        composer.facilitator = self.lead
        yield composer
        yield Static(
            "Enter send · Ctrl+J new line · /help commands · F2 crisis help · Ctrl+X quick exit",
            id="composer-hint",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Composer).focus()
        self.set_interval(1.0, self.refresh_status)
        self.refresh_status()
        room = self.query_one("#waiting-room", OptionList)
        room.border_title = "Waiting room"
        room.border_subtitle = "Enter admits · d declines"
        self.query_one("#inbox", Static).border_title = "Concerns"
        self.show_role()
        self.query_one("#members", Static).border_title = "In the circle"
        self.query_one("#pinned", Static).border_title = "Pinned"
        self.query_one("#transcript", TranscriptView).border_title = self.circle_title

    def show_role(self) -> None:
        """Facilitator boxes appear for whoever leads now (hand-over, co-facilitation)."""
        client = self.circle_app.client
        lead = client is not None and client.session.lead is not None
        self.lead = lead
        self.query_one("#waiting-room").display = lead
        self.query_one("#inbox").display = self.facilitating
        self.query_one(Composer).facilitator = self.facilitating

    @property
    def facilitating(self) -> bool:
        if self.lead:
            return True
        role = getattr(self.session, "role", None)
        return callable(role) and role() in ("facilitator", "co")

    # ------------------------------------------------------------------ status
    def refresh_status(self) -> None:
        app = self.circle_app
        if app.client is None:  # the circle was left or ended; this screen is on its way out
            return
        left = max(0, int(self.session.ends_at - app.clock())) if self.session.ends_at else 0
        clock = f"{left // 60:02d}:{left % 60:02d} left"
        if self.phase:  # the agenda phase goes with the clock (F4): "Sharing, 41:59 left"
            clock = f"{self.phase.capitalize()}, {clock}"
        parts = [f"{self.circle_title}", clock]
        if self.round:
            parts.append(self.round_status(app.clock()))
        muted = int(self.session.muted_until - app.clock())
        if muted > 0:
            parts.append(f"you are muted ({muted // 60}:{muted % 60:02d} left)")
        parts += list(self.flags.values())
        self.query_one("#status", Static).update("  ·  ".join(parts))

    def round_status(self, now: float) -> str:
        """Whose turn it is, the share timer (F9) and who is next."""
        speaker = self.round[0]
        who = "you are" if speaker == self.session.member else f"{self.handle(speaker)} is"
        text = f"Go-around: {who} sharing"
        if self.share_seconds:
            left = max(0, int(self.turn_started + self.share_seconds - now))
            text += f" ({left // 60}:{left % 60:02d} left)"
        if len(self.round) > 1:
            text += f", then {self.handle(self.round[1])}"
        return text

    def handle(self, member: int) -> str:
        return self.session.handle_of(member)

    def note(self, text: str, kind: str = "notice") -> None:
        self.query_one(TranscriptView).append(self.transcript.add_notice(text, kind))

    def update_members(self) -> None:
        speaking = self.round[0] if self.round else None
        lines = []
        for member, handle, role in self.roster:
            marks = {"facilitator": " (facilitator)", "co": " (co-facilitator)"}.get(role, "")
            you = " (you)" if member == self.session.member else ""
            talk = " ◀ sharing" if member == speaking else ""
            hidden = " [hidden]" if member in self.transcript.muted else ""
            lines.append(f"{handle}{marks}{you}{talk}{hidden}")
        self.query_one("#members", Static).update("\n".join(lines))

    def wipe(self) -> None:
        """Forget everything shown or typed in this circle (F5): nothing outlives it."""
        self.transcript.wipe()
        self.transcript.muted.clear()
        self.transcript.filters.clear()
        self.roster, self.round, self.concerns = (), (), []
        self.phase = None
        self.last_draft = ""
        if self.is_mounted:
            self.query_one(TranscriptView).clear()
            self.composer.text = ""
            for box in ("#members", "#inbox", "#pinned"):
                self.query_one(box, Static).update("")
            self.query_one("#waiting-room", OptionList).clear_options()

    # ------------------------------------------------------------------ events
    def handle_event(self, event: ev.Event) -> None:  # noqa: C901 - one switch over event types
        view = self.query_one(TranscriptView)
        t = self.transcript
        if isinstance(event, ev.MessageReceived):
            c = event.content
            r = c.reply_to
            reply = (r[0], r[1], r[2]) if r is not None and len(r) == 3 else None
            entry = t.add_message(
                event.id,
                event.sender,
                event.handle,
                c.body,
                me=c.me,
                warning=c.warning,
                reply_to=reply,
                mine=event.mine,
            )
            view.append(entry)
        elif isinstance(event, ev.ReactionReceived):
            if t.react(event.target, event.sender, event.reaction):
                view.redraw()
        elif isinstance(event, ev.Retracted):
            if t.retract(event.target, event.sender):
                view.redraw()
        elif isinstance(event, ev.Pinned):
            self.query_one("#pinned", Static).update(event.body)
        elif isinstance(event, ev.Gap):
            plural = "s" if event.count > 1 else ""
            self.note(f"{event.count} message{plural} from {event.handle} never arrived", "gap")
        elif isinstance(event, ev.RosterChanged):
            self.roster = event.members
            self.tell_renamed()
            self.update_members()
            self.show_role()
        elif isinstance(event, ev.NoticeReceived):
            self.note(event.text)
            self.notice_flags(event)
        elif isinstance(event, ev.RoundChanged):
            self.round = event.order
            self.share_seconds = event.share_seconds
            self.turn_started = self.circle_app.clock()
            if event.speaker is not None and event.speaker == self.session.member:
                self.notify("Your turn to share. /pass if you would rather not.", timeout=8)
            self.update_members()
            self.refresh_status()
        elif isinstance(event, ev.PhaseChanged):
            self.phase = event.phase
            self.refresh_status()
        elif isinstance(event, ev.TimerChanged):
            if event.warning:
                self.note(f"{event.warning} minute{'s' if event.warning > 1 else ''} left")
                self.notify(f"{event.warning} min left in this circle", timeout=6)
            self.refresh_status()
        elif isinstance(event, ev.KnockReceived):
            self.query_one("#waiting-room", OptionList).add_option(
                Option(f"{event.handle}", id=str(event.member))
            )
            self.notify(f"{event.handle} is in the waiting room", timeout=5)
        elif isinstance(event, ev.KnockWithdrawn):
            self.remove_knock(event.member)
        elif isinstance(event, ev.ConcernReceived):
            about = f" about #{self.number_of(event.target)}" if event.target else ""
            self.concerns.append(f"{event.handle}{about}: {event.note}")
            self.query_one("#inbox", Static).update("\n".join(self.concerns[-8:]))
            self.notify("A member raised a concern (see the Concerns box)", timeout=8)
        elif isinstance(event, ev.PrivateWarning):
            self.note(f"Private note from a facilitator: {event.text}", "system")
            self.notify(event.text, title="A facilitator's private note", timeout=15)
        elif isinstance(event, ev.ErrorReceived):
            if event.code in REFUSALS and event.ref == "post" and not self.composer.text:
                self.composer.text = self.last_draft  # the draft is kept (F9)
            self.notify(event.message, severity="warning", timeout=6)
        elif isinstance(event, ev.SecurityAlert):
            self.note(event.message, "gap")
            self.notify(event.message, severity="error", timeout=10)
        elif isinstance(event, ev.Reconnecting):
            self.flags["net"] = "reconnecting..."
            self.refresh_status()
        elif isinstance(event, ev.Resumed):
            self.flags.pop("net", None)
            if event.lost:
                self.note("Some messages from while you were away could not be recovered", "gap")
            self.refresh_status()

    def tell_renamed(self) -> None:
        """Handles are unique in a circle (F3): say so if the facilitator's client changed ours."""
        wanted = self.circle_app.handle
        mine = next((h for m, h, _ in self.roster if m == self.session.member), None)
        if wanted and mine and mine != wanted and not self.told_renamed:
            self.told_renamed = True
            self.note(f"Someone here already uses {wanted}, so you are {mine} in this circle.")

    def notice_flags(self, event: ev.NoticeReceived) -> None:
        if event.action == "lock":
            self.flags["lock"] = "locked"
        elif event.action == "unlock":
            self.flags.pop("lock", None)
        elif event.action == "slow":
            if "off" in event.text:
                self.flags.pop("slow", None)
            else:
                self.flags["slow"] = event.text.lower()
        elif event.action == "mute" and event.about_me:
            self.notify("A facilitator muted you for a while.", severity="warning")
        elif event.action == "unmute" and event.about_me:
            self.notify("You can talk again.")
        elif event.action == "paused":
            self.flags["paused"] = "admissions paused"
        elif event.action in ("joined", "handover", "delegate"):
            self.flags.pop("paused", None)
        if event.action == "joined" and event.target is not None:
            self.remove_knock(event.target)
        self.refresh_status()

    def remove_knock(self, member: int) -> None:
        if not self.lead:
            return
        room = self.query_one("#waiting-room", OptionList)
        try:
            index = room.get_option_index(str(member))
        except Exception:  # noqa: BLE001 - OptionDoesNotExist across Textual versions
            return
        room.remove_option_at_index(index)

    def number_of(self, target: tuple[int, ...] | None) -> str:
        entry = self.transcript.entry_for(target) if target else None
        return str(entry.number) if entry else "?"

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    # ------------------------------------------------------------------ sending
    @on(Composer.Submitted)
    def submitted(self, message: Composer.Submitted) -> None:
        self.composer.text = ""
        self.process(message.text.strip())

    @work(group="send")
    async def process(self, text: str) -> None:
        """In a worker, so the safety dialogs can wait for an answer."""
        try:
            if text.startswith("/"):
                await self.run_command(text)
            else:
                await self.guarded_send(text)
        except CommandError as exc:
            self.composer.text = text
            self.notify(str(exc), severity="warning", timeout=8)
        except CircleError as exc:
            self.composer.text = text
            self.notify(str(exc), severity="error")

    async def guarded_send(self, body: str, **kwargs: object) -> None:
        """Check the draft locally (F13, F14) before it leaves the machine."""
        if not body.strip():
            raise CommandError("There is nothing to send; write something after the command.")
        app = self.circle_app
        phrases = app.connected.risk_phrases if app.connected else ()
        if self.risk_check and not self.risk_prompted and risk_language(body, phrases):
            self.risk_prompted = True
            if not await app.push_screen_wait(CrisisScreen(app.crisis_text, draft=True)):
                self.composer.text = body
                return
        found = oversharing(body)
        if found:
            question = ConfirmScreen(
                "Before you send",
                f"This looks like it contains {' and '.join(found)}. Anyone in the circle "
                "will see it and could keep it. Send anyway?",
            )
            if not await app.push_screen_wait(question):
                self.composer.text = body
                return
        self.last_draft = body
        await app.send("post", body, **kwargs)
        self.risk_prompted = False

    async def run_command(self, text: str) -> None:  # noqa: C901 - one switch over commands
        command, words, rest = parse(text)
        name = command.name
        app = self.circle_app
        if command.facilitator and not self.facilitating:
            raise CommandError(f"/{name} is for the facilitator.")
        if name in LEAD_ONLY and not self.lead:
            raise CommandError(f"/{name} is for the lead facilitator.")
        if name == "me":
            await self.guarded_send(rest, me=True)
        elif name == "reply":
            entry = self.entry(words, command)
            await self.guarded_send(rest.split(" ", 1)[1] if " " in rest else "", reply_to=entry.id)
        elif name == "react":
            entry = self.entry(words, command)
            reaction = REACTION_WORDS.get(words[1] if len(words) > 1 else "")
            if reaction is None:
                raise CommandError(f"Usage: {command.usage}")
            await app.send("react", entry.id, reaction)
        elif name == "takeback":
            entry = self.entry(words, command)
            if not entry.mine:
                raise CommandError("You can only take back your own messages.")
            await app.send("retract", entry.id)
        elif name == "cw":
            label, sep, body = rest.partition(":")
            if not sep or not body.strip() or not label.strip():
                raise CommandError(f"Usage: {command.usage}")
            await self.guarded_send(body.strip(), warning=label.strip()[:80])
        elif name == "open":
            if not self.transcript.open_warning(number_arg(words, command)):
                raise CommandError("There is no such message.")
            self.query_one(TranscriptView).redraw()
        elif name == "concern":
            entry = self.entry(words, command)
            note = rest.split(" ", 1)[1] if " " in rest else "(no note)"
            await app.send("concern", entry.id, note)
            self.note("Your concern was sent privately to the facilitators.", "system")
        elif name in ("hide", "unhide"):
            member = self.member_by_handle(words, command)
            (self.transcript.muted.add if name == "hide" else self.transcript.muted.discard)(member)
            self.query_one(TranscriptView).redraw()
            self.update_members()
        elif name == "filter":
            if not words:
                raise CommandError(f"Usage: {command.usage}")
            self.transcript.filters.add(rest.casefold())
            self.query_one(TranscriptView).redraw()
        elif name == "unfilter":
            if words:
                self.transcript.filters.discard(rest.casefold())
            else:
                self.transcript.filters.clear()
            self.query_one(TranscriptView).redraw()
        elif name == "fingerprint":
            self.action_fingerprint()
        elif name == "pass":
            await app.send("pass_turn")
        elif name == "crisis":
            app.action_crisis()
        elif name == "riskcheck":
            self.risk_check = choice_arg(words, command) == "on"
            self.note(RISK_CHECK_NOTES[self.risk_check], "system")
        elif name == "help":
            app.action_help()
        elif name == "leave":
            mood = words[0].lower() if words else None
            if mood is not None and mood not in MOODS:
                raise CommandError(f"Usage: {command.usage}")
            await self.circle_app.leave_circle(mood)
        else:
            await self.facilitator_command(name, words, rest, command)

    async def facilitator_command(
        self, name: str, words: list[str], rest: str, command: object
    ) -> None:
        app = self.circle_app
        if name in ("admit", "decline"):
            member = self.knock_by_handle(words, command)
            await app.send(name, member)
            self.remove_knock(member)
        elif name in ("lock", "unlock", "next", "endround", "close"):
            action = {"next": "round_next", "endround": "round_end"}.get(name, name)
            await app.send("moderate", action)
        elif name in ("mute", "extend", "slow"):
            target = self.member_by_handle(words, command) if name == "mute" else None
            amount_words = words[1:] if name == "mute" else words
            if not amount_words or not amount_words[0].isdigit():
                raise CommandError(f"Usage: {command.usage}")  # type: ignore[attr-defined]
            amount = int(amount_words[0])
            if name == "slow":
                await app.send("moderate", "slow", seconds=amount)
            else:
                await app.send("moderate", name, target=target, minutes=amount)
        elif name in ("unmute", "remove", "ban", "co", "revoke", "handover"):
            target = self.member_by_handle(words, command)
            action = {"co": "delegate"}.get(name, name)
            await app.send("moderate", action, target=target)
        elif name == "warn":
            target = self.member_by_handle(words, command)
            note = rest.split(" ", 1)[1] if " " in rest else ""
            if not note:
                raise CommandError(f"Usage: {command.usage}")  # type: ignore[attr-defined]
            await app.send("moderate", "warn", target=target, note=note)
        elif name == "round":
            seconds = int(words[0]) if words and words[0].isdigit() else None
            handles = [w for w in words if not w.isdigit()]
            order = tuple(self.member_by_handle([h], command) for h in handles) or tuple(
                m for m, _, _ in self.roster
            )
            await app.send("moderate", "round_start", order=order, seconds=seconds)
        elif name == "phase":
            phase = choice_arg(words, command)  # type: ignore[arg-type]
            await app.send("set_phase", None if phase == "none" else phase)
        elif name == "pin":
            if not rest:
                raise CommandError(f"Usage: {command.usage}")  # type: ignore[attr-defined]
            await app.send("pin", rest)
        elif name == "invite":
            app.show_invite(dialog=True)
        elif name == "tally":
            lead = self.session.lead
            for label, tally in (
                ("Check-in", lead.mood_tally() if lead else {}),
                ("Check-out", dict(lead.checkouts) if lead else {}),
            ):
                text = ", ".join(f"{m}: {n}" for m, n in sorted(tally.items())) or "none yet"
                self.note(f"{label} moods (anonymous): {text}", "system")

    # ------------------------------------------------------------------ lookups
    def entry(self, words: list[str], command: object):  # type: ignore[no-untyped-def]
        entry = self.transcript.find(number_arg(words, command))  # type: ignore[arg-type]
        if entry is None or entry.id is None or entry.retracted:
            raise CommandError("There is no such message (numbers are shown as #N).")
        return entry

    def member_by_handle(self, words: list[str], command: object) -> int:
        if not words:
            raise CommandError(f"Usage: {command.usage}")  # type: ignore[attr-defined]
        wanted = words[0].lstrip("@").lower()
        for member, handle, _role in self.roster:
            if handle.lower() == wanted:
                return member
        raise CommandError(f"No one called {wanted} is in the circle.")

    def knock_by_handle(self, words: list[str], command: object) -> int:
        lead = self.session.lead
        wanted = words[0].lower() if words else ""
        for member, knock in lead.knocks.items() if lead else []:
            if knock.handle.lower() == wanted or not wanted:
                return member
        raise CommandError(f"No one called {wanted or '...'} is waiting.")

    # ------------------------------------------------------------------ actions
    @on(OptionList.OptionSelected, "#waiting-room")
    async def admit_selected(self, event: OptionList.OptionSelected) -> None:
        member = int(event.option.id or 0)
        await self.circle_app.send("admit", member)
        self.remove_knock(member)
        self.composer.focus()

    @on(WaitingRoom.DeclineRequested)
    async def decline_selected(self, event: WaitingRoom.DeclineRequested) -> None:
        await self.circle_app.send("decline", event.member)
        self.remove_knock(event.member)
        self.composer.focus()

    def action_fingerprint(self) -> None:
        fingerprint = self.session.fingerprint()
        self.note(f"Circle fingerprint: {fingerprint}  (compare it aloud with others)", "system")

    @work(group="leave")
    async def action_leave(self) -> None:
        """Ask first (with an optional check-out mood); quick exit is the no-questions way."""
        leave, mood = await self.circle_app.push_screen_wait(LeaveScreen())
        if leave:
            await self.circle_app.leave_circle(mood)
