"""The circle: transcript, members, composer, clock; the facilitator's waiting room and inbox.

The screen gets what it needs in its constructor (the connection's typed methods, the clock,
the crisis text, the invite) and asks the App for the rest with a :class:`Request`: it never
reaches into the App. It keeps no copy of the session's state: the go-around, the share timer
and the phase are read from the session whenever they are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.widgets import Footer, OptionList, Static

from circle_client import commands
from circle_client import events as ev
from circle_client.commands import CommandError
from circle_client.safety import oversharing, risk_language
from circle_client.transcript import Transcript
from circle_client.tui.modals import ConfirmScreen, CrisisScreen, InviteScreen, LeaveScreen
from circle_client.tui.picker import SHOWN, Choice, MessagePicker
from circle_client.tui.screens import CircleScreenBase
from circle_client.tui.side import SidePanel
from circle_client.tui.widgets import Composer, TranscriptView, WaitingRoom
from circle_client.tui.wording import ends_here, plain_error, status_line
from protocol.errors import CircleError, ErrorCode
from protocol.limits import MAX_BODY

if TYPE_CHECKING:
    from circle_client.client import CircleClient
    from circle_client.session import Session

RISK_CHECK_NOTES = {
    True: "The private check of your drafts is on: if a draft sounds like you may be in danger, "
    "Circle shows the crisis resources before sending. Only you see it.",
    False: "The private check of your drafts is off for this circle. That is your choice; it "
    "is not sent anywhere. F2 still shows the crisis resources, and /riskcheck on turns it back.",
}
HINT = "Enter sends · Ctrl+J new line · PageUp reads back · F5 or a click acts on a message"
HINT_SHORT = "Enter sends · Ctrl+J new line · PageUp reads back · F5 acts on a message"
REFUSALS = {ErrorCode.MUTED, ErrorCode.NOT_YOUR_TURN, ErrorCode.SLOW_MODE, ErrorCode.RATE_LIMITED}
INVITE_NOTE = (
    "Your circle is open. F4 (or /invite) shows its invite on one line, ready to copy; share "
    "it privately with the people you want here."
)
"""The invite itself is never written into the conversation: it would wrap, and be read."""


class CircleScreen(CircleScreenBase):
    AUTO_FOCUS = "#composer"  # typed keys go to the composer, never to the transcript
    BINDINGS = [
        Binding("ctrl+f", "fingerprint", "Fingerprint", show=False),
        Binding("ctrl+l", "leave", "Leave"),
        Binding("f3", "waiting_room", "Knocks"),
        Binding("f4", "invite", "Invite"),
        Binding("f5", "pick_message", "Act on a message", show=False),
    ]

    def __init__(
        self,
        title: str,
        client: CircleClient,
        *,
        clock: Callable[[], float],
        crisis: str,
        risk_phrases: tuple[str, ...] = (),
        handle: str = "",
        invite: str | None = None,
        lives_here: str | None = None,
        bell: bool = False,
    ) -> None:
        super().__init__()
        self.circle_title = title
        self.client = client
        self.clock = clock
        self.crisis = crisis
        self.risk_phrases = risk_phrases
        self.wanted_handle = handle
        """The handle the person asked for (the lead's client may have made it unique)."""
        self.invite = invite
        """The facilitator's invite: a secret, shown only in its own dialog, wiped at the end."""
        self.lives_here = lives_here
        """Words for the status line when the circle's server runs in this window."""
        self.bell_on = bell
        self.lead = client.session.lead is not None
        self.transcript = Transcript(clock=clock)
        self.last_draft = ""
        self.risk_check = True  # the person's own choice for this circle; never sent (F13)
        self.risk_prompted = False  # at most once per draft: until the next message is sent
        self.told_renamed = False
        self.away = False
        """The idle lock is up: the first message that arrives gets an unread marker."""

    @property
    def session(self) -> Session:
        return self.client.session

    @property
    def actions(self) -> CircleClient:
        """Where commands send what reaches the others (the commands.Circle protocol)."""
        return self.client

    @property
    def round(self) -> tuple[int, ...]:
        return self.session.round

    @property
    def roster(self) -> tuple[tuple[int, str, str], ...]:
        """(member id, handle, role) as last shown: the session's, never a copy."""
        return self.session.members

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        with Horizontal(id="circle-body"):
            yield TranscriptView(self.transcript, id="transcript")
            yield SidePanel(id="side")
        composer = Composer(id="composer", soft_wrap=True, show_line_numbers=False)
        composer.facilitator = self.lead
        yield composer
        yield Static(HINT, id="composer-hint", markup=False)
        yield Footer(compact=True)

    def on_resize(self, event: events.Resize) -> None:
        """The composer's hint, whole: shorter when the terminal is narrow."""
        fits = event.size.width >= len(HINT) + 2
        self.query_one("#composer-hint", Static).update(HINT if fits else HINT_SHORT)

    def on_mount(self) -> None:
        self.composer.focus()
        self.set_interval(1.0, self.refresh_status)
        self.refresh_status()
        self.show_role()
        self.query_one(TranscriptView).border_title = self.circle_title
        if self.invite is not None:
            self.note(INVITE_NOTE, "system")
            self.app.copy_to_clipboard(self.invite)  # OSC 52: the terminal may allow it
            self.notify("Invite copied, if your terminal allows. F4 shows it to copy.", timeout=8)

    @property
    def side(self) -> SidePanel:
        return self.query_one(SidePanel)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    def show_role(self) -> None:
        """Facilitator boxes appear for whoever leads now (hand-over, co-facilitation)."""
        self.lead = self.session.lead is not None
        self.refresh_bindings()
        self.side.show_role(self.lead, self.facilitating)
        self.composer.facilitator = self.facilitating

    @property
    def facilitating(self) -> bool:
        return self.lead or self.session.role() in ("facilitator", "co")

    # ------------------------------------------------------------------ status
    def refresh_status(self) -> None:
        if self.session.closed:  # the circle was left or ended; this screen is on its way out
            return
        line = status_line(self.circle_title, self.session, self.clock(), self.lives_here)
        self.query_one("#status", Static).update(line)

    def handle(self, member: int) -> str:
        return self.session.handle_of(member)

    def note(self, text: str, kind: str = "notice") -> None:
        self.query_one(TranscriptView).append(self.transcript.add_notice(text, kind))

    def update_members(self) -> None:
        speaking = self.round[0] if self.round else None
        self.side.show_members(self.roster, self.session.member, speaking, self.transcript.muted)

    def wipe(self) -> None:
        """Forget everything shown or typed in this circle (F5): nothing outlives it."""
        self.transcript.wipe()
        self.transcript.muted.clear()
        self.transcript.filters.clear()
        self.last_draft = ""
        self.invite = None
        if self.is_mounted:
            self.query_one(TranscriptView).clear()
            self.composer.clear_draft()
            self.side.wipe()

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
            self.side.show_pinned(event.body)
        elif isinstance(event, ev.Gap):
            plural = "s" if event.count > 1 else ""
            self.note(f"{event.count} message{plural} from {event.handle} never arrived", "gap")
        elif isinstance(event, ev.RosterChanged):
            self.tell_renamed()
            self.update_members()
            self.show_role()
        elif isinstance(event, ev.NoticeReceived):
            self.note(event.text)
            self.notice_flags(event)
        elif isinstance(event, ev.RoundChanged):
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
            self.refresh_status()
        elif isinstance(event, ev.KnockReceived):
            self.side.add_knock(event.member, event.handle)
            self.ring()
            self.notify(f"{event.handle} is in the waiting room (F3, then Enter admits)", timeout=5)
        elif isinstance(event, ev.KnockWithdrawn):
            self.knock_answered(event.member)
        elif isinstance(event, ev.ConcernReceived):
            about = f" about #{self.number_of(event.target)}" if event.target else ""
            self.side.add_concern(f"{event.handle}{about}: {event.note}")
            self.notify("A member raised a concern (see the Concerns box)", timeout=8)
            self.ring()
        elif isinstance(event, ev.WarningDelivered):
            self.note(
                f"The server delivered your private note to {event.handle}; only they can read it.",
                "system",
            )
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
            self.refresh_status()
        elif isinstance(event, ev.Resumed):
            if event.lost:
                self.note("Some messages from while you were away could not be recovered", "gap")
            self.refresh_status()

    def ring(self) -> None:
        """The terminal bell for knocks and concerns, only if asked for (``--bell``, F31)."""
        if self.bell_on:
            self.app.bell()

    async def confirm(self, title: str, text: str, yes: str, no: str = "Cancel") -> bool:
        answer: bool = await self.app.push_screen_wait(ConfirmScreen(title, text, yes, no))
        return answer

    async def confirm_ends_here(self, doing: str) -> bool:
        """Before leaving or handing over a circle that lives in this window: say so."""
        if not self.lives_here:
            return True
        return await self.confirm("Before you go on", ends_here(doing), "Go ahead")

    def tell_renamed(self) -> None:
        """Handles are unique in a circle (F3): say so if the facilitator's client changed ours."""
        wanted = self.wanted_handle
        mine = next((h for m, h, _ in self.roster if m == self.session.member), None)
        if wanted and mine and mine != wanted and not self.told_renamed:
            self.told_renamed = True
            self.note(f"Someone here already uses {wanted}, so you are {mine} in this circle.")

    def notice_flags(self, event: ev.NoticeReceived) -> None:
        """What a notice changes on screen; the state itself is the session's."""
        if event.action == "mute" and event.about_me:
            self.notify("A facilitator muted you for a while.", severity="warning")
        elif event.action == "unmute" and event.about_me:
            self.notify("You can talk again.")
        if event.action == "joined" and event.target is not None:
            self.knock_answered(event.target)
        self.refresh_status()

    def knock_answered(self, member: int) -> None:
        if self.lead:
            self.side.remove_knock(member)

    def number_of(self, target: tuple[int, ...] | None) -> str:
        entry = self.transcript.entry_for(target) if target else None
        return str(entry.number) if entry and entry.number else "?"

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
                await commands.run(self, text)
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

    async def guarded_send(self, body: str, *, draft: str, **options: Any) -> None:
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
        if self.risk_check and not self.risk_prompted and risk_language(body, self.risk_phrases):
            self.risk_prompted = True
            if not await self.app.push_screen_wait(CrisisScreen(self.crisis, draft=True)):
                self.restore_draft(draft, refused=False)
                return
        found = oversharing(body)
        if found:
            question = ConfirmScreen(
                "Before you send",
                f"This looks like it contains {' and '.join(found)}. Anyone in the circle "
                "will see it and could keep it. Send anyway?",
            )
            if not await self.app.push_screen_wait(question):
                self.restore_draft(draft, refused=False)
                return
        self.last_draft = draft
        await self.client.post(body, **options)
        self.risk_prompted = False

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
        if what == "fingerprint":
            self.action_fingerprint()
        elif what in ("crisis", "help"):
            self.request("show", screen=what)
        elif what == "invite":
            self.action_invite()
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

    async def leave(self, mood: str | None) -> None:
        self.request("leave", mood=mood)

    # ------------------------------------------------------------------ keys
    @on(Composer.PageRequested)
    def page_transcript(self, message: Composer.PageRequested) -> None:
        view = self.query_one(TranscriptView)
        if message.down:
            view.scroll_page_down(animate=False)
        else:
            view.scroll_page_up(animate=False)

    @on(TranscriptView.Picked)
    def picked_in_transcript(self, message: TranscriptView.Picked) -> None:
        """A click on a message (or Enter on the one selected in the transcript)."""
        self.pick_message(message.number)

    def action_pick_message(self) -> None:
        """F5: pick a message and what to do with it."""
        self.pick_message(None)

    @work(group="pick", exclusive=True)
    async def pick_message(self, number: int | None) -> None:
        """Act on a message: ``number`` goes straight to what to do with that one."""
        messages = [
            e
            for e in self.transcript.recent(SHOWN * 2)
            if e.kind == "message" and e.number and not e.retracted
        ]
        chosen = self.transcript.find(number) if number is not None else None
        if chosen is not None and (chosen.kind != "message" or chosen.retracted):
            chosen = None
        picker = MessagePicker(messages, self.facilitating, self.transcript.hidden, chosen)
        choice: Choice | None = await self.app.push_screen_wait(picker)
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
        if action == "invite":  # a lead handed the circle may not hold its invite
            return self.lead and self.invite is not None
        if action == "waiting_room":
            return self.lead
        return True

    def action_invite(self) -> None:
        if self.invite is not None:
            self.app.push_screen(InviteScreen(self.invite))

    def action_waiting_room(self) -> None:
        room = self.side.waiting_room
        room.focus()
        if room.highlighted is None and room.option_count:
            room.highlighted = 0

    # ------------------------------------------------------------------ actions
    @on(OptionList.OptionSelected, "#waiting-room")
    async def admit_selected(self, event: OptionList.OptionSelected) -> None:
        member = int(event.option.id or 0)
        await self.client.admit(member)
        self.knock_answered(member)
        self.composer.focus()

    @on(WaitingRoom.DeclineRequested)
    async def decline_selected(self, event: WaitingRoom.DeclineRequested) -> None:
        await self.client.decline(event.member)
        self.knock_answered(event.member)
        self.composer.focus()

    def action_fingerprint(self) -> None:
        fingerprint = self.session.fingerprint()
        self.note(f"Circle fingerprint: {fingerprint}  (compare it aloud with others)", "system")

    @work(group="leave")
    async def action_leave(self) -> None:
        """Ask first (with an optional check-out mood); quick exit is the no-questions way."""
        leave, mood = await self.app.push_screen_wait(LeaveScreen())
        if leave and await self.confirm_ends_here("leave"):
            self.request("leave", mood=mood)
