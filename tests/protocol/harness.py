"""A socket-free group harness: one facilitator, members, and a relay that records every byte.

Like h11's ``ConnectionPair``: every frame goes through ``encode_frame``/``decode_frame`` and
the recorded bytes are exactly what a server would see on the wire.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TypeVar

from protocol import crypto
from protocol.content import InfoContent, KnockContent, PostContent, RosterContent, RosterEntry
from protocol.crypto import CircleSecrets, MemberKeys
from protocol.frames import (
    CircleInfo,
    Frame,
    Join,
    Knock,
    Knocked,
    OpenCircle,
    Post,
    Rekey,
    Relayed,
    Roster,
    Welcome,
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
    roster_transcript,
    seal_info,
    seal_knock,
)
from protocol.handshake import sign_open, verify_open
from protocol.invite import Invite

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

    def __init__(self, rules: str = "Be kind. What is said here stays here.") -> None:
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
        self.epoch = 0
        self.epoch_key = self.signer.new_epoch_key()
        self.entries: dict[int, RosterEntry] = {
            fac_member: RosterEntry(
                member=fac_member,
                handle="calm-heron",
                sign_key=fac_keys.sign.public,
                box_key=fac_keys.box.public,
                role="facilitator",
            )
        }
        self.roster_version = 1
        self.prev = NO_TRANSCRIPT  # the transcript hash the next roster follows
        fac_circle = CircleCrypto(
            cid, fac_member, fac_keys, fac_keys.sign.public, self.invite.facilitator_fingerprint
        )
        fac_circle.start(self.epoch_key, self.roster_content())
        self.prev = fac_circle.transcript_hash
        self.facilitator = Party("calm-heron", fac_keys, fac_member, fac_circle)
        self.parties: dict[int, Party] = {fac_member: self.facilitator}

    def roster_content(self) -> RosterContent:
        return RosterContent(
            circle=self.invite.circle_id,
            version=self.roster_version,
            epoch=self.epoch,
            prev=self.prev,
            members=tuple(self.entries[m] for m in sorted(self.entries)),
        )

    def _advance(self, content: RosterContent) -> None:
        self.prev = roster_transcript(self.epoch, content)

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
        knock = self.relay.carry(
            Knock(
                sealed=seal_knock(
                    secrets, invite.circle_id, keys, KnockContent(handle=handle, mood="low")
                )
            )
        )
        knocked = self.relay.carry(
            Knocked(
                member=member,
                sign_key=keys.sign.public,
                box_key=keys.box.public,
                sealed=knock.sealed,
            )
        )
        seen = open_knock(
            self.secrets, invite.circle_id, knocked.sign_key, knocked.box_key, knocked.sealed
        )
        circle = CircleCrypto(
            invite.circle_id,
            member,
            keys,
            info_frame.facilitator_key,
            invite.facilitator_fingerprint,
        )
        party = Party(seen.handle, keys, member, circle)
        self.admit(party)
        return party

    def admit(self, party: Party) -> None:
        self.entries[party.member] = RosterEntry(
            member=party.member,
            handle=party.handle,
            sign_key=party.keys.sign.public,
            box_key=party.keys.box.public,
            role="member",
        )
        self.roster_version += 1
        old_members = list(self.parties.values())
        self.epoch += 1
        self.epoch_key = self.signer.new_epoch_key()
        content = self.roster_content()
        welcome = self.signer.welcome(
            party.member,
            party.keys.sign.public,
            party.keys.box.public,
            self.epoch,
            self.epoch_key,
            content,
        )
        rekey = self.relay.carry(
            self.signer.rekey(
                self.epoch,
                self.epoch_key,
                [self.entries[p.member] for p in old_members],
                self.prev,
            )
        )
        for other in old_members:
            assert other.circle.apply_rekey(rekey)
        roster = self.relay.carry(self.signer.roster(content, self.epoch, self.epoch_key))
        for other in old_members:
            assert other.circle.apply_roster(roster)
        self._advance(content)
        carried = self.relay.carry(
            Welcome(
                circle=self.invite.circle_id,
                member=party.member,
                welcome=welcome,
                ends_at=1.0,
                rseq=0,
            )
        )
        party.circle.accept_welcome(carried.welcome)
        self.parties[party.member] = party

    def remove(self, member: int) -> tuple[Rekey, Roster]:
        """Facilitator removes a member: new epoch for everyone else, new roster (S5)."""
        del self.entries[member]
        del self.parties[member]
        return self.rekey_all()

    def rekey_all(self, signer: FacilitatorSigner | None = None) -> tuple[Rekey, Roster]:
        """One step of the group's history: a new epoch for everyone on the roster, and the
        roster that starts it, signed by ``signer`` (the facilitator by default)."""
        signer = signer or self.signer
        self.roster_version += 1
        self.epoch += 1
        self.epoch_key = signer.new_epoch_key()
        content = self.roster_content()
        recipients = [self.entries[m] for m in sorted(self.entries)]
        rekey = self.relay.carry(signer.rekey(self.epoch, self.epoch_key, recipients, self.prev))
        roster = self.relay.carry(signer.roster(content, self.epoch, self.epoch_key))
        self._advance(content)
        return rekey, roster

    def apply(self, step: tuple[Rekey, Roster], parties: list[Party] | None = None) -> None:
        """Every party (all by default) takes the step."""
        rekey, roster = step
        for party in parties if parties is not None else list(self.parties.values()):
            assert party.circle.apply_rekey(rekey)
            assert party.circle.apply_roster(roster)

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
