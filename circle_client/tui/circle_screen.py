"""The circle: transcript, members, composer, clock; the facilitator's waiting room and inbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static

from circle_client import commands
from circle_client import events as ev
from circle_client.commands import CommandError
from circle_client.safety import oversharing, risk_language
from circle_client.transcript import Transcript
from circle_client.tui.modals import ConfirmScreen, CrisisScreen, LeaveScreen
from circle_client.tui.picker import SHOWN, Choice, MessagePicker
from circle_client.tui.widgets import Composer, TranscriptView, WaitingRoom
from circle_client.tui.wording import ends_here, plain_error
from protocol.errors import CircleError, ErrorCode
from protocol.limits import MAX_BODY

if TYPE_CHECKING:
    from circle_client.session import Session
    from circle_client.tui.app import CircleApp

RISK_CHECK_NOTES = {
    True: "The private check of your drafts is on: if a draft sounds like you may be in danger, "
    "Circle shows the crisis resources before sending. Only you see it.",
    False: "The private check of your drafts is off for this circle. That is your choice; it "
    "is not sent anywhere. F2 still shows the crisis resources, and /riskcheck on turns it back.",
}
REFUSALS = {ErrorCode.MUTED, ErrorCode.NOT_YOUR_TURN, ErrorCode.SLOW_MODE, ErrorCode.RATE_LIMITED}


class CircleScreen(Screen[None]):
    AUTO_FOCUS = "#composer"  # typed keys go to the composer, never to the transcript
    BINDINGS = [
        Binding("ctrl+f", "fingerprint", "Fingerprint", show=False),
        Binding("ctrl+l", "leave", "Leave"),
        Binding("f3", "waiting_room", "Knocks"),
        Binding("f4", "invite", "Invite", show=False),
        Binding("f5", "pick_message", "Act on a message", show=False),
    ]

    def __init__(self, title: str, lead: bool, bell: bool = False) -> None:
        super().__init__()
        self.circle_title = title
        self.lead = lead
        self.bell_on = bell
        self.transcript = Transcript(clock=self.circle_app_clock)
        self.roster: tuple[tuple[int, str, str], ...] = ()
        self.last_draft = ""
        self.risk_check = True  # the person's own choice for this circle; never sent (F13)
        self.risk_prompted = False  # at most once per draft: until the next message is sent
        self.turn_started = 0.0
        """When this screen saw the current turn begin (for the share timer's countdown)."""
        self.flags: dict[str, str] = {}
        self.concerns: list[str] = []
        self.told_renamed = False
        self.away = False
        """The idle lock is up: the first message that arrives gets an unread marker."""

    def circle_app_clock(self) -> float:
        return self.circle_app.clock()

    @property
    def circle_app(self) -> CircleApp:
        return self.app  # type: ignore[return-value]

    # The go-around and the agenda phase are the session's state; the screen only shows them.
    @property
    def round(self) -> tuple[int, ...]:
        client = self.circle_app.client
        return client.session.round if client is not None else ()

    @property
    def share_seconds(self) -> int | None:
        client = self.circle_app.client
        return client.session.share_seconds if client is not None else None

    @property
    def phase(self) -> str | None:
        client = self.circle_app.client
        return client.session.phase if client is not None else None

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
            "Enter sends · Ctrl+J new line · PageUp reads back · F5 acts on a message",
            id="composer-hint",
        )
        yield Footer(compact=True)

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
        self.refresh_bindings()
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
        if app.lives_here:
            parts.append(app.lives_here)
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
            following = self.round[1]
            text += (
                ", then you"
                if following == self.session.member
                else f", then {self.handle(following)}"
            )
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
        self.roster, self.concerns = (), []
        self.last_draft = ""
        if self.is_mounted:
            self.query_one(TranscriptView).clear()
            self.composer.clear_draft()
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
            if self.away:  # the first message while the idle lock is up (F12)
                self.away = False
                view.append(t.add_notice("new since you were away", "marker"))
            entry = t.add_message(
                event.id,
                event.sender,
                event.handle,
                c.body,
                me=c.me,
                warning=c.warning,
                reply_to=reply,
                mine=event.mine,
                number=event.rseq,
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
            self.turn_started = self.circle_app.clock()
            if event.speaker is not None and event.speaker == self.session.member:
                self.notify("Your turn to share. /pass if you would rather not.", timeout=8)
            self.update_members()
            self.refresh_status()
        elif isinstance(event, ev.PhaseChanged):
            self.refresh_status()
        elif isinstance(event, ev.TimerChanged):
            if event.warning:
                self.note(f"{event.warning} minute{'s' if event.warning > 1 else ''} left")
                self.notify(f"{event.warning} min left in this circle", timeout=6)
            else:  # the clock restated: a facilitator is back, or the circle was extended
                self.flags.pop("paused", None)
            self.refresh_status()
        elif isinstance(event, ev.KnockReceived):
            self.query_one(WaitingRoom).add_knock(event.member, event.handle)
            self.ring()
            self.notify(f"{event.handle} is in the waiting room (F3, then Enter admits)", timeout=5)
        elif isinstance(event, ev.KnockWithdrawn):
            self.remove_knock(event.member)
        elif isinstance(event, ev.ConcernReceived):
            about = f" about #{self.number_of(event.target)}" if event.target else ""
            self.concerns.append(f"{event.handle}{about}: {event.note}")
            self.query_one("#inbox", Static).update("\n".join(self.concerns[-8:]))
            self.notify("A member raised a concern (see the Concerns box)", timeout=8)
            self.ring()
        elif isinstance(event, ev.PrivateWarning):
            self.note(f"Private note from a facilitator: {event.text}", "system")
            self.notify(event.text, title="A facilitator's private note", timeout=15)
        elif isinstance(event, ev.ErrorReceived):
            if event.code in REFUSALS and event.ref == "post" and self.last_draft:
                self.restore_draft(self.last_draft, refused=True)  # the draft is kept (F9)
                self.last_draft = ""
            self.problem(plain_error(event.message), severity="warning")
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

    def ring(self) -> None:
        """The terminal bell for knocks and concerns, only if asked for (``--bell``, F31)."""
        if self.bell_on:
            self.app.bell()

    async def confirm(self, title: str, text: str, yes: str, no: str = "Cancel") -> bool:
        question = ConfirmScreen(title, text, yes, no)
        answer: bool = await self.circle_app.push_screen_wait(question)
        return answer

    async def confirm_ends_here(self, doing: str) -> bool:
        """Before leaving or handing over a circle that lives in this window: say so."""
        if not self.circle_app.lives_here:
            return True
        return await self.confirm("Before you go on", ends_here(doing), "Go ahead")

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
        return str(entry.number) if entry and entry.number else "?"

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    # ------------------------------------------------------------------ sending
    @on(Composer.Submitted)
    def submitted(self, message: Composer.Submitted) -> None:
        self.composer.clear_draft()
        self.process(message.text.strip())

    def restore_draft(self, draft: str, *, refused: bool) -> None:
        """Every path that gives a draft back goes through here (see :meth:`Composer.restore`)."""
        if not self.composer.restore(draft, refused=refused):
            self.note(f"Not sent (you had started a new message): {draft}", "system")

    @work(group="send")
    async def process(self, text: str) -> None:
        """In a worker, so the safety dialogs can wait for an answer."""
        try:
            if text.startswith("/"):
                await self.run_command(text)
            else:
                await self.guarded_send(text, draft=text)
        except CommandError as exc:
            self.restore_draft(text, refused=True)
            self.problem(str(exc), severity="warning")
        except CircleError as exc:
            self.restore_draft(text, refused=True)
            self.problem(plain_error(exc))

    def problem(self, text: str, severity: SeverityLevel = "error") -> None:
        """An error, in plain words: a line in the transcript (it stays, it wraps) and a
        notice (it catches the eye)."""
        self.note(text, "error")
        self.notify(text, severity=severity, timeout=10)

    async def guarded_send(self, body: str, *, draft: str, **kwargs: object) -> None:
        """Check the draft locally (F13, F14) before it leaves the machine.

        ``draft`` is the whole line as typed (``/cw grief: ...`` included): it is what comes
        back to the composer if the person keeps editing or the server refuses the post.
        """
        if not body.strip():
            raise CommandError("There is nothing to send; write something after the command.")
        if len(body.encode()) > MAX_BODY:
            raise CommandError(
                f"Your message is too long to send in one piece (about {MAX_BODY:,} letters "
                "at most). Split it into a few messages."
            )
        app = self.circle_app
        phrases = app.connected.risk_phrases if app.connected else ()
        if self.risk_check and not self.risk_prompted and risk_language(body, phrases):
            self.risk_prompted = True
            if not await app.push_screen_wait(CrisisScreen(app.crisis_text, draft=True)):
                self.restore_draft(draft, refused=False)
                return
        found = oversharing(body)
        if found:
            question = ConfirmScreen(
                "Before you send",
                f"This looks like it contains {' and '.join(found)}. Anyone in the circle "
                "will see it and could keep it. Send anyway?",
            )
            if not await app.push_screen_wait(question):
                self.restore_draft(draft, refused=False)
                return
        self.last_draft = draft
        await app.send("post", body, **kwargs)
        self.risk_prompted = False

    async def run_command(self, text: str) -> None:
        await commands.run(self, text)

    # ------------------------------------------------------------------ what commands do
    # (the commands.Circle protocol: the handlers in commands.COMMANDS act through these)
    def set_risk_check(self, on: bool) -> None:
        """The person's own choice for this circle (F13); it is never sent anywhere."""
        self.risk_check = on
        self.note(RISK_CHECK_NOTES[on], "system")

    def message_id(self, number: int, *, mine: bool = False) -> tuple[int, int, int]:
        entry = self.transcript.find(number)
        if entry is None or entry.id is None or entry.retracted:
            raise CommandError("There is no such message (numbers are shown as #N).")
        if mine and not entry.mine:
            raise CommandError("You can only take back your own messages.")
        return entry.id

    def member(self, handle: str) -> int:
        wanted = handle.lstrip("@").lower()
        for member, name, _role in self.roster:
            if name.lower() == wanted:
                return member
        raise CommandError(f"No one called {wanted} is in the circle.")

    def knocker(self, handle: str) -> int:
        lead = self.session.lead
        wanted = handle.lower()
        for member, knock in lead.knocks.items() if lead else []:
            if knock.handle.lower() == wanted or not wanted:
                return member
        raise CommandError(f"No one called {wanted or '...'} is waiting.")

    def everyone(self) -> tuple[int, ...]:
        return tuple(m for m, _, _ in self.roster)

    def open_message(self, number: int) -> bool:
        opened = self.transcript.open_warning(number)
        if opened:
            self.query_one(TranscriptView).redraw()
        return opened

    def hide(self, member: int, hidden: bool) -> None:
        (self.transcript.muted.add if hidden else self.transcript.muted.discard)(member)
        self.query_one(TranscriptView).redraw()
        self.update_members()

    def filter(self, word: str | None, add: bool) -> None:
        filters = self.transcript.filters
        if add and word:
            filters.add(word)
        elif word:
            filters.discard(word)
        else:
            filters.clear()
        self.query_one(TranscriptView).redraw()

    def show(self, what: str) -> None:
        app = self.circle_app
        if what == "fingerprint":
            self.action_fingerprint()
        elif what == "crisis":
            app.action_crisis()
        elif what == "help":
            app.action_help()
        elif what == "invite":
            app.show_invite(dialog=True)
        elif what == "tally":
            lead = self.session.lead
            for label, tally in (
                ("Check-in", lead.mood_tally() if lead else {}),
                ("Check-out", dict(lead.checkouts) if lead else {}),
            ):
                text = ", ".join(f"{m}: {n}" for m, n in sorted(tally.items())) or "none yet"
                self.note(f"{label} moods (anonymous): {text}", "system")

    async def post(self, body: str, *, draft: str, **options: Any) -> None:
        await self.guarded_send(body, draft=draft, **options)

    async def act(self, command: str, *args: Any, **kwargs: Any) -> None:
        await self.circle_app.send(command, *args, **kwargs)
        if command in ("admit", "decline"):
            self.remove_knock(int(args[0]))

    async def leave(self, mood: str | None) -> None:
        await self.circle_app.leave_circle(mood)

    # ------------------------------------------------------------------ keys
    @on(Composer.PageRequested)
    def page_transcript(self, message: Composer.PageRequested) -> None:
        view = self.query_one(TranscriptView)
        if message.down:
            view.scroll_page_down(animate=False)
        else:
            view.scroll_page_up(animate=False)

    @work(group="pick", exclusive=True)
    async def action_pick_message(self) -> None:
        """F5 (or Enter in the transcript): pick a message and what to do with it."""
        messages = [
            e
            for e in self.transcript.recent(SHOWN * 2)
            if e.kind == "message" and e.number and not e.retracted
        ]
        picker = MessagePicker(messages, self.facilitating, set(self.transcript.muted))
        choice: Choice | None = await self.circle_app.push_screen_wait(picker)
        composer = self.composer
        composer.focus()
        if choice is None:
            return
        if choice.complete:
            self.process(choice.line)
        elif not composer.text.strip():
            composer.text = choice.line
            composer.move_cursor(composer.document.end)
        else:
            self.note("Finish or clear the message you are writing first.", "system")

    @on(TranscriptView.Typed)
    def typed_in_transcript(self, message: TranscriptView.Typed) -> None:
        """Keys typed while reading the transcript are not lost: they go to the composer."""
        composer = self.composer
        composer.focus()
        composer.insert(message.character)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("waiting_room", "invite"):
            return self.lead
        return True

    def action_invite(self) -> None:
        self.circle_app.show_invite(dialog=True)

    def action_waiting_room(self) -> None:
        room = self.query_one(WaitingRoom)
        room.focus()
        if room.highlighted is None and room.option_count:
            room.highlighted = 0

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
        if leave and await self.confirm_ends_here("leave"):
            await self.circle_app.leave_circle(mood)
