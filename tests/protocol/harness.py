"""A socket-free group harness: one facilitator, members, and a relay that records every byte.

Like h11's ``ConnectionPair``: every frame goes through ``encode_frame``/``decode_frame`` and
the recorded bytes are exactly what a server would see on the wire.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import TypeVar

from protocol import crypto
from protocol.content import InfoContent, KnockContent, PostContent, RosterContent, RosterEntry
from protocol.crypto import CircleSecrets, MemberKeys
from protocol.errors import CircleError
from protocol.frames import (
    CircleInfo,
    Frame,
    Join,
    KeyUpdate,
    Knock,
    Knocked,
    OpenCircle,
    Post,
    Rekey,
    Relayed,
    Roster,
    Welcome,
    WelcomeBody,
    decode_frame,
    encode_frame,
)
from protocol.group import (
    NO_TRANSCRIPT,
    CircleCrypto,
    FacilitatorSigner,
    Opened,
    open_info,
    open_knock,
    seal_info,
    seal_knock,
)
from protocol.handshake import sign_open, verify_open
from protocol.invite import Invite
from protocol.kem import EpochPublicKey, Suite

F = TypeVar("F", bound=Frame)


class Relay:
    """Stands in for the server: passes frames through the codec and records the bytes."""

    def __init__(self) -> None:
        self.wire: list[bytes] = []
        self.rseq = itertools.count(1)

    def carry(self, frame: F) -> F:
        data = encode_frame(frame)
        self.wire.append(data)
        decoded = decode_frame(data)
        assert decoded == frame
        return decoded  # type: ignore[return-value]

    def recorded(self) -> bytes:
        return b"".join(self.wire)


@dataclass
class Party:
    handle: str
    keys: MemberKeys
    member: int
    circle: CircleCrypto
    inbox: list[Opened] = field(default_factory=list)


class Group:
    """Facilitator plus members, admitted through the real join flow, over a :class:`Relay`."""

    def __init__(
        self,
        rules: str = "Be kind. What is said here stays here.",
        suite: Suite = Suite.X25519_MLKEM768,
    ) -> None:
        self.suite = suite
        self.relay = Relay()
        self.member_ids = itertools.count(1)
        fac_keys = MemberKeys.generate()
        self.invite = Invite.create("ws://127.0.0.1:9000", crypto.fingerprint(fac_keys.sign.public))
        self.invite = Invite.parse(str(self.invite))
        self.secrets = CircleSecrets.from_secret(self.invite.secret, self.invite.circle_id)
        cid = self.invite.circle_id
        self.rules = rules
        challenge = b"c" * 32
        info = seal_info(
            self.secrets,
            cid,
            fac_keys.sign.public,
            InfoContent(
                title="Tuesday evening circle", rules=rules, facilitator_box=fac_keys.box.public
            ),
        )
        unsigned = OpenCircle(
            circle=cid,
            facilitator_key=fac_keys.sign.public,
            verifier=self.secrets.verifier,
            info=info,
            minutes=60,
            capacity=12,
            auto_admit=False,
            listed=False,
            title=None,
            secret=None,
            approval=None,
            sig=bytes(64),
        )
        opened = self.relay.carry(sign_open(fac_keys.sign, challenge, unsigned))
        verify_open(challenge, opened)
        self.open_frame = opened
        fac_member = next(self.member_ids)
        self.signer = FacilitatorSigner(cid, fac_keys.sign)
        self.entries: dict[int, RosterEntry] = {
            fac_member: RosterEntry(
                member=fac_member,
                handle="calm-heron",
                sign_key=fac_keys.sign.public,
                box_key=fac_keys.box.public,
                role="facilitator",
            )
        }
        fac_circle = CircleCrypto(
            cid,
            fac_member,
            fac_keys,
            fac_keys.sign.public,
            self.invite.facilitator_fingerprint,
            suite=suite,
        )
        fac_circle.start(
            RosterContent(
                circle=cid,
                version=1,
                epoch=0,
                prev=NO_TRANSCRIPT,
                members=tuple(self.entries.values()),
            )
        )
        self.facilitator = Party("calm-heron", fac_keys, fac_member, fac_circle)
        self.lead = self.facilitator
        """Whose state the next commit is made from: the lead facilitator."""
        self.parties: dict[int, Party] = {fac_member: self.facilitator}
        self.announce(self.facilitator)

    @property
    def epoch(self) -> int:
        return self.lead.circle.epoch

    def roster_content(self, by: Party | None = None) -> RosterContent:
        """The roster of the next epoch from ``by``'s state (the lead's), with ``entries``."""
        circle = (by or self.lead).circle
        return RosterContent(
            circle=self.invite.circle_id,
            version=circle.roster_version + 1,
            epoch=circle.epoch + 1,
            prev=circle.transcript_hash,
            members=tuple(self.entries[m] for m in sorted(self.entries)),
        )

    def announce(self, party: Party) -> KeyUpdate | None:
        """``party`` announces a fresh epoch key; every party on the roster takes it in."""
        update = party.circle.key_update()
        if update is None:
            return None
        carried = self.relay.carry(
            dataclasses.replace(update, member=party.member, rseq=next(self.relay.rseq))
        )
        for other in self.parties.values():
            if other is not party and party.member in other.circle.roster:
                other.circle.take_key_update(carried)
        return carried

    def candidate(self, member: int, handle: str = "") -> tuple[CircleCrypto, RosterEntry]:
        """A joiner's fresh state (with its knock key, id 0), and its entry on ``entries``."""
        keys = MemberKeys.generate()
        circle = CircleCrypto(
            self.invite.circle_id,
            member,
            keys,
            self.facilitator.keys.sign.public,
            self.invite.facilitator_fingerprint,
            suite=self.suite,
        )
        circle.knock_key()
        entry = RosterEntry(
            member=member,
            handle=handle or f"new-{member}",
            sign_key=keys.sign.public,
            box_key=keys.box.public,
            role="member",
        )
        self.entries[member] = entry
        return circle, entry

    def welcome_for(
        self, circle: CircleCrypto, signer: FacilitatorSigner | None = None
    ) -> tuple[Rekey, Roster, WelcomeBody]:
        """A commit that admits ``circle``'s member, made from the lead's state, not taken."""
        joiners = {circle.member: (0, circle.knock_key())}
        rekey, roster, welcomes = (signer or self.signer).commit(
            self.lead.circle, self.roster_content(), joiners
        )
        return rekey, roster, welcomes[circle.member]

    # -- joining ------------------------------------------------------------------------------
    def join(self, handle: str) -> Party:
        """The full flow: proof -> info -> knock -> admit (welcome) -> rekey others -> roster."""
        invite = Invite.parse(str(self.invite))
        secrets = CircleSecrets.from_secret(invite.secret, invite.circle_id)
        keys = MemberKeys.generate()
        challenge = crypto.system_random(32)
        proof = crypto.admission_proof(
            secrets, challenge, invite.circle_id, keys.sign.public, keys.box.public
        )
        join = self.relay.carry(
            Join(
                circle=invite.circle_id,
                sign_key=keys.sign.public,
                box_key=keys.box.public,
                proof=proof,
            )
        )
        crypto.verify_admission(
            self.open_frame.verifier,
            join.proof,
            challenge,
            join.circle,
            join.sign_key,
            join.box_key,
        )
        member = next(self.member_ids)
        info_frame = self.relay.carry(
            CircleInfo(
                circle=invite.circle_id,
                member=member,
                facilitator_key=self.open_frame.facilitator_key,
                info=self.open_frame.info,
                ends_at=1_800_000_000.0,
            )
        )
        info = open_info(secrets, invite.circle_id, info_frame.facilitator_key, info_frame.info)
        assert info.rules == self.rules
        circle = CircleCrypto(
            invite.circle_id,
            member,
            keys,
            info_frame.facilitator_key,
            invite.facilitator_fingerprint,
            suite=self.suite,
        )
        public = circle.knock_key()
        content = KnockContent(handle=handle, mood="low")
        knock = self.relay.carry(
            Knock(
                sealed=seal_knock(secrets, invite.circle_id, keys, 0, public, content),
                key=0,
                x25519=public.x25519,
                mlkem=public.mlkem,
            )
        )
        knocked = self.relay.carry(
            Knocked(
                member=member,
                sign_key=keys.sign.public,
                box_key=keys.box.public,
                sealed=knock.sealed,
                key=knock.key,
                x25519=knock.x25519,
                mlkem=knock.mlkem,
            )
        )
        knock_key = EpochPublicKey(knocked.x25519, knocked.mlkem)
        seen = open_knock(
            self.secrets,
            invite.circle_id,
            knocked.sign_key,
            knocked.box_key,
            knocked.key,
            knock_key,
            knocked.sealed,
        )
        party = Party(seen.handle, keys, member, circle)
        self.admit(party, (knocked.key, knock_key))
        return party

    def admit(self, party: Party, key: tuple[int, EpochPublicKey]) -> None:
        self.entries[party.member] = RosterEntry(
            member=party.member,
            handle=party.handle,
            sign_key=party.keys.sign.public,
            box_key=party.keys.box.public,
            role="member",
        )
        old_members = list(self.parties.values())
        rekey, roster, welcomes = self.signer.commit(
            self.lead.circle, self.roster_content(), {party.member: key}
        )
        rekey, roster = self.relay.carry(rekey), self.relay.carry(roster)
        self.lead.circle.note_knock_key(party.member, *key)
        for other in old_members:
            assert other.circle.apply_rekey(rekey)
            assert other.circle.apply_roster(roster)
        carried = self.relay.carry(
            Welcome(
                circle=self.invite.circle_id,
                member=party.member,
                welcome=welcomes[party.member],
                ends_at=1.0,
                rseq=0,
            )
        )
        party.circle.accept_welcome(carried.welcome)
        self.parties[party.member] = party
        for other in [*old_members, party]:
            self.announce(other)

    def remove(self, member: int) -> tuple[Rekey, Roster]:
        """Facilitator removes a member: new epoch for everyone else, new roster (S5)."""
        del self.entries[member]
        del self.parties[member]
        return self.rekey_all()

    def rekey_all(
        self, signer: FacilitatorSigner | None = None, by: Party | None = None
    ) -> tuple[Rekey, Roster]:
        """One step of the group's history: a commit into a new epoch for everyone on the
        roster, made from ``by``'s state (the lead's) and signed by ``signer`` (the root key
        by default). ``by`` takes it at once if it verifies for it, as a lead's client does."""
        signer = signer or self.signer
        by = by or self.lead
        rekey, roster, _ = signer.commit(by.circle, self.roster_content(by), {})
        rekey, roster = self.relay.carry(rekey), self.relay.carry(roster)
        try:
            by.circle.apply_rekey(rekey)
            by.circle.apply_roster(roster)
        except CircleError:
            pass  # not a commit its own maker may take (a test of who may sign)
        else:
            self.announce(by)
        return rekey, roster

    def apply(self, step: tuple[Rekey, Roster], parties: list[Party] | None = None) -> None:
        """Every party (all by default) takes the step and announces a fresh key."""
        rekey, roster = step
        for party in parties if parties is not None else list(self.parties.values()):
            if party.circle.epoch < rekey.epoch:
                assert party.circle.apply_rekey(rekey)
            party.circle.apply_roster(roster)
            self.announce(party)

    # -- talking ------------------------------------------------------------------------------
    def post(self, sender: Party, body: str) -> Relayed:
        """Seal a post and return the relayed frame as every member would receive it."""
        post = self.relay.carry(
            Post(
                env=sender.circle.seal(
                    "post", PostContent(body=body, reply_to=None, warning=None, me=False)
                )
            )
        )
        return self.relay.carry(
            Relayed(kind="post", sender=sender.member, rseq=next(self.relay.rseq), env=post.env)
        )

    def deliver(self, relayed: Relayed, to: list[Party] | None = None) -> None:
        for party in to if to is not None else list(self.parties.values()):
            party.inbox.append(party.circle.open(relayed))
