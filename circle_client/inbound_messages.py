"""Inbound message and notice frames for the client session core: sans-I/O, no textual.

:class:`MessageHandlers` opens ``relayed`` messages, checks each ``notice`` against the
facilitator's signature behind it (moderation, rounds, phases, members leaving) and reads
concerns and check-out moods. It builds on
:class:`circle_client.inbound_roster.RosterHandlers`, and
:class:`circle_client.inbound.Inbound` builds on it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from circle_client import events as ev
from circle_client.facilitation import Facilitation
from circle_client.inbound_roster import COMPARE, OVERDUE_SECONDS, PENDING_LIMIT, RosterHandlers
from circle_client.notices import notice_text
from protocol import crypto
from protocol.codec import decode_struct
from protocol.content import (
    ConcernContent,
    MoodContent,
    PinContent,
    PostContent,
    ReactContent,
    RetractContent,
)
from protocol.crypto import CircleSecrets, MemberKeys, Random
from protocol.errors import (
    CircleError,
    EpochError,
    ForkError,
    RefusedRelayedError,
    ReplayError,
    TamperedError,
)
from protocol.frames import (
    PHASE_ACTIONS,
    CheckoutNotice,
    ConcernNotice,
    Moderate,
    Notice,
    Relayed,
    action_phase,
)
from protocol.group import (
    CONCERN_BUCKETS,
    MOOD_BUCKETS,
    NOTE_BUCKETS,
    CircleCrypto,
    open_member,
    open_signed,
)
from protocol.handshake import verify_delegation, verify_leave, verify_moderate

# Notices that are only ever the server's word (its clocks, a member passing, a connection
# lost): shown, never acted on. Every other notice is a facilitator's action and must carry
# the facilitator's signature (S10).
SERVER_NOTICES = frozenset(
    {"joined", "left", "pass", "warning_time", "paused", "round_next", "round_end", "restart"}
)
LEAD_ONLY = frozenset({"delegate", "handover"})
"""Actions only the circle's own key signs (the root facilitator, PROTOCOL.md 5.7)."""


class MessageHandlers(RosterHandlers):
    """Message and notice frames: what members said, and what facilitators signed."""

    if TYPE_CHECKING:
        # More of the session state, read and changed here; Session.__init__ sets it.
        rng: Random
        secrets: CircleSecrets | None
        keys: MemberKeys | None
        muted_until: float
        round: tuple[int, ...]
        share_seconds: int | None
        turn_started: float
        locked: bool
        slow_seconds: int
        paused: bool
        phase: str | None
        _unreadable: dict[tuple[int, int, int], None]
        _mod_seen: dict[bytes, int]
        _boxes_seen: deque[bytes]
        _expect_gone: dict[int, float]

    def _on_relayed(self, frame: Relayed) -> list[ev.Event]:
        self._note_rseq(frame.rseq)
        if frame.sender == self.member:
            self._confirm((frame.kind, frame.env.epoch, frame.env.seq), frame.env)
        circle = self.circle
        if circle is None:
            return []
        if frame.env.epoch > circle.epoch or (
            frame.env.epoch == circle.epoch and circle.awaiting_roster
        ):
            circle.verify_sender(frame)  # only what verifies is held (S10)
            return self._hold(frame)
        try:
            opened = circle.open(frame)
        except RefusedRelayedError:
            return [self._refused_but_relayed(frame.sender)]
        except ReplayError:
            return []
        except EpochError:
            return self._unreadable_gap(frame)
        except CircleError:
            return [
                ev.SecurityAlert("A message failed its integrity check and was dropped." + COMPARE)
            ]
        handle = circle.handle_of(opened.sender) or "someone"
        out: list[ev.Event] = []
        if opened.new_gaps:
            out.append(ev.Gap(opened.sender, handle, len(opened.new_gaps)))
        if opened.relayed_refused:
            out.append(self._refused_but_relayed(opened.sender))
        content = opened.content
        if isinstance(content, PostContent):
            mine = opened.sender == self.member
            out.append(
                ev.MessageReceived(opened.id, opened.sender, handle, content, mine, frame.rseq)
            )
        elif isinstance(content, ReactContent):
            out.append(ev.ReactionReceived(content.target, opened.sender, handle, content.reaction))
        elif isinstance(content, RetractContent):
            target = content.target
            if len(target) == 3 and target[0] == opened.sender:  # only one's own (S3)
                out.append(ev.Retracted((target[0], target[1], target[2]), opened.sender))
        elif isinstance(content, PinContent):
            entry = circle.roster.get(opened.sender)
            if entry is not None and entry.role in ("facilitator", "co"):
                out.append(ev.Pinned(content.body, opened.sender))
        if self.lead is not None:  # every kind counts towards the epoch's end
            self._send(*self.lead.count_message())
        return out

    def _refused_but_relayed(self, sender: int) -> ev.SecurityAlert:
        """A message its sender was told the server refused, which reached this member all
        the same: the server shows members different conversations (S6)."""
        who = (self.circle.handle_of(sender) if self.circle else None) or "someone"
        return ev.SecurityAlert(
            f"The server delivered a message from {who} that it told {who} it had refused: "
            "members may be seeing different conversations." + COMPARE,
            "withheld",
        )

    def _unreadable_gap(self, frame: Relayed) -> list[ev.Event]:
        """A message from an epoch this member holds no key for: from before it was admitted
        (sent by someone who had not yet seen the rekey) or older than the keys it keeps. It
        can never be read, so it shows as a gap once, never as nothing (S6)."""
        assert self.circle is not None
        msg_id = (frame.sender, frame.env.epoch, frame.env.seq)
        if msg_id in self._unreadable:
            return []
        self._unreadable[msg_id] = None
        if len(self._unreadable) > PENDING_LIMIT:
            del self._unreadable[next(iter(self._unreadable))]
        return [ev.Gap(frame.sender, self.circle.handle_of(frame.sender) or "someone", 1)]

    def _on_notice(self, frame: Notice) -> list[ev.Event]:
        if frame.rseq:
            self._note_rseq(frame.rseq)
        circle = self.circle
        assert circle is not None  # CLIENT_FRAMES: notices come only while admitted
        action = frame.action
        if action == "left" and frame.rseq == 0:  # someone left the waiting room
            if self.lead is not None:
                self.lead.knocks.pop(frame.target or 0, None)
                self._unseat(frame.target)  # gone before the admission reached the server
            return [ev.KnockWithdrawn(frame.target or 0)]
        if action == "joined" and self.lead is not None and frame.target in self.lead.admitting:
            self.lead.admitting.remove(frame.target)
        signed = self._verified_action(frame)
        if signed is None and action not in SERVER_NOTICES and action not in PHASE_ACTIONS:
            return [
                ev.SecurityAlert(
                    f"The server claimed a facilitator's action that no facilitator signed "
                    f"({action}); it was ignored." + COMPARE,
                    "unsigned",
                )
            ]
        if action in PHASE_ACTIONS:
            return self._on_phase(frame)
        if action == "joined" and frame.target not in circle.roster:
            if len(self._held) >= PENDING_LIMIT:
                self._held.pop(0)
            self._held.append(frame)  # shown once the signed roster names the newcomer
            return []
        if action == "left":
            return self._on_left(frame, circle)
        handles = dict(circle.ever_seated)
        about_me = frame.target is not None and frame.target == self.member
        if action == "warn":
            if not about_me:
                return self._warning_delivered(signed, handles)
            return self._private_warning(signed)
        out: list[ev.Event] = []
        if action == "mute" and about_me:
            self.muted_until = self.clock() + (frame.minutes or 0) * 60
        if action == "unmute" and about_me:
            self.muted_until = 0.0
        if action in ("lock", "unlock"):
            self.locked = action == "lock"
        elif action == "slow":
            self.slow_seconds = frame.seconds or 0
        elif action == "paused":
            self.paused = True
        elif action in ("joined", "handover", "delegate"):
            self.paused = False
        out.append(ev.NoticeReceived(action, frame.target, notice_text(frame, handles), about_me))
        if action in ("round_start", "round_next", "pass"):
            if action == "round_start":
                self.share_seconds = frame.seconds or None
            self.round = frame.order
            self.turn_started = self.clock()
            speaker = frame.order[0] if frame.order else None
            out.append(ev.RoundChanged(frame.order, speaker, self.share_seconds))
        elif action == "round_end":
            self.round, self.share_seconds = (), None
            out.append(ev.RoundChanged((), None, None))
        if action in ("remove", "ban") and about_me:
            self.wipe()
            out.append(ev.Removed(banned=action == "ban"))
            return out
        was_lead = self.lead is not None
        if signed is not None:
            self._lead_reacts(signed)
            target = signed.target
            if signed.action in ("remove", "ban") and target is not None:
                if target in circle.roster and self.lead is None:
                    # The lead's rekey should follow at once; if it never comes, say so.
                    self._expect_gone.setdefault(target, self.clock() + OVERDUE_SECONDS)
        if was_lead != (self.lead is not None) or (signed is not None and action == "handover"):
            # Who leads changed after the roster saying so was shown: show it again, so the
            # interface moves the lead's panels to the right person.
            out.append(self._roster_event())
        return out

    def _verified_action(self, frame: Notice) -> Moderate | None:
        """The facilitator's own signed action behind a notice, checked against the roster;
        None when the notice carries none. Raises if it carries one that does not verify."""
        signed = frame.signed
        circle = self.circle
        if signed is None or circle is None:
            return None
        said = (frame.action, frame.target, frame.minutes, frame.seconds, tuple(frame.order))
        meant = (signed.action, signed.target, signed.minutes, signed.seconds, tuple(signed.order))
        if said != meant or (frame.cert is not None and frame.cert != signed.cert):
            raise TamperedError("the notice does not say what the facilitator signed")
        if signed.action in LEAD_ONLY:
            if signed.signer != circle.root_key or signed.cert is None:
                raise TamperedError("only the circle's own key delegates or hands over")
            cert = signed.cert
            verify_delegation(circle.root_key, circle.circle_id, cert)
            target = circle.roster.get(cert.member)
            if target is None or cert.member != signed.target or cert.key != target.sign_key:
                raise TamperedError("the delegation names someone else")
        else:
            signer = circle.check_moderator(signed.signer, lead_only=signed.action == "revoke")
            aim = signed.target
            if signer.role == "co" and aim is not None and circle.is_lead_or_root(aim):
                raise TamperedError("a co-facilitator cannot act on the lead facilitator")
            if signed.action == "revoke" and (aim is None or self._role_of(aim) is None):
                raise TamperedError("a revocation names someone not in the circle")
        verify_moderate(circle.circle_id, signed)
        if signed.seq <= self._mod_seen.get(signed.signer, 0):
            raise ReplayError("a facilitator's action was sent again")
        self._mod_seen[signed.signer] = signed.seq
        return signed

    def _role_of(self, member: int) -> str | None:
        entry = self.circle.roster.get(member) if self.circle is not None else None
        return entry.role if entry is not None else None

    def _on_left(self, frame: Notice, circle: CircleCrypto) -> list[ev.Event]:
        """A member left (its own signature in ``proof``) or lost its connection (the server's
        word alone). The lead moves everyone else to a new epoch either way: a member the
        server no longer relays to must not keep getting keys (S5, SECURITY.md)."""
        target = frame.target
        entry = circle.roster.get(target) if target is not None else None
        if entry is None or target is None:
            return []
        text = notice_text(frame, {entry.member: entry.handle})
        if frame.proof is not None:
            verify_leave(entry.sign_key, frame.proof, circle.circle_id, target)
            if entry.sign_key == circle.root_key:
                circle.root_left = True
        else:
            text = f"{entry.handle} lost their connection"
        out: list[ev.Event] = [ev.NoticeReceived("left", target, text, False)]
        lead = self.lead
        # A (co-)facilitator leaves only by its own signed leave or a signed removal: the
        # server's word never takes a facilitator out of the circle.
        lost_facilitator = frame.proof is None and entry.role != "member"
        if (
            lead is not None
            and target != self.member
            and not lost_facilitator
            and (entry.sign_key != circle.root_key or circle.root_left)
        ):
            self._send(*lead.rekey(without=target))
        return out

    def _private_warning(self, signed: Moderate | None) -> list[ev.Event]:
        """A facilitator's private note to this member: only ever from the signed action."""
        if signed is None or signed.note is None or self.keys is None:
            raise TamperedError("a private note without a facilitator's signature")
        plain = crypto.open_padded(self.keys.box, signed.note, NOTE_BUCKETS, "warning")
        try:
            text = plain.decode()
        except UnicodeDecodeError:
            raise TamperedError("the private note is not text") from None
        return [ev.PrivateWarning(text)]

    def _warning_delivered(
        self, signed: Moderate | None, handles: dict[int, str]
    ) -> list[ev.Event]:
        """The copy of this facilitator's own private note that the server sends back once it
        has delivered it. Someone else's note has no business here: the server says who was
        warned to someone it should not."""
        keys = self.keys
        if signed is None or keys is None or signed.signer != keys.sign.public:
            return [
                ev.SecurityAlert(
                    "The server showed this member a private note meant for someone else; it "
                    "was ignored." + COMPARE,
                    "malformed",
                )
            ]
        target = signed.target or 0
        return [ev.WarningDelivered(target, handles.get(target, "someone"))]

    def _on_phase(self, frame: Notice) -> list[ev.Event]:
        """A numbered phase notice is news for the transcript; an unnumbered one is the phase
        a late or resumed member missed (PROTOCOL.md 3.3), shown only if it changes it."""
        phase = action_phase(frame.action)
        out: list[ev.Event] = []
        if frame.rseq:
            out.append(ev.NoticeReceived(frame.action, None, notice_text(frame, {}), False))
        if phase != self.phase:
            self.phase = phase
            out.append(ev.PhaseChanged(phase))
        return out

    def _lead_reacts(self, signed: Moderate) -> None:
        """The lead facilitator's client keeps keys and roster in step with what facilitators
        signed: a co-facilitator's removal, a delegation, a revocation, a hand-over."""
        target = signed.target
        if signed.action == "handover" and target == self.member:
            if target is None or self._role_of(target) != "facilitator":
                raise ForkError("handed the lead before the roster naming this member lead")
            if self.circle is not None and self.secrets is not None:
                self.lead = Facilitation(
                    self.circle, self.secrets, self.rng, cert=signed.cert, clock=self.clock
                )
            return
        lead = self.lead
        if lead is None or target is None:
            return
        if signed.action in ("remove", "ban"):
            if target in lead.circle.roster:
                self._send(*lead.rekey(without=target))
        elif signed.action == "delegate" and self._role_of(target) == "member":
            self._send(*lead.rekey(roles={target: "co"}))
        elif signed.action == "revoke" and self._role_of(target) == "co":
            self._send(*lead.rekey(roles={target: "member"}))
        elif signed.action == "handover":
            self.lead = None  # the roster naming the new lead went out before the hand-over

    def _on_concern_notice(self, frame: ConcernNotice) -> list[ev.Event]:
        """A concern, signed inside its box by the member who raised it (S10): the server
        names the sender, the signature proves it."""
        circle = self.circle
        if circle is None:
            return []
        _epoch, plain = open_signed(circle, frame.sealed, CONCERN_BUCKETS, "concern", frame.sender)
        self._once(frame.sealed)
        content = decode_struct(ConcernContent, plain)
        handle = circle.handle_of(frame.sender) or "someone"
        return [ev.ConcernReceived(frame.sender, handle, content.target, content.note)]

    def _on_checkout_notice(self, frame: CheckoutNotice) -> list[ev.Event]:
        """A check-out mood: tagged under the epoch key, so it is from a member, not the
        server, though no one can tell which member (F11)."""
        circle = self.circle
        if circle is None or self.lead is None:
            return []
        plain = open_member(circle, frame.sealed, MOOD_BUCKETS)
        self._once(frame.sealed)
        mood = decode_struct(MoodContent, plain).mood
        self.lead.checkouts[mood] = self.lead.checkouts.get(mood, 0) + 1
        return [ev.CheckedOut(mood)]

    def _once(self, sealed: bytes) -> None:
        """The same box twice is a replay (ReplayError), not a second concern or mood."""
        digest = crypto.hash_bytes("box-seen", sealed, 16)
        if digest in self._boxes_seen:
            raise ReplayError("the same box was sent twice")
        self._boxes_seen.append(digest)
