"""Per-sender hash ratchets: one key per message, deleted after use (PROTOCOL.md 9.5).

Each epoch's sender root yields one chain per member; a chain step is two labelled BLAKE2b
calls (libsignal's sender-key chain and MLS's secret-tree ratchet do the same with HMAC)::

    chain[1]        = KDF(sender_root, "ks:sender-chain", sender)
    message_key[n]  = KDF(chain[n], "ks:message-key")
    chain[n+1]      = KDF(chain[n], "ks:chain-next")

The chain key for ``n`` is overwritten as soon as ``n+1`` exists, so a copy of the state taken
after message ``n`` cannot derive keys for messages before it. Receivers keep the keys of
skipped messages (late or reordered) up to :data:`MAX_SKIPPED_KEYS` per epoch and refuse jumps
beyond :data:`MAX_FORWARD_JUMP`; a key that was used is gone, so a replay cannot be opened.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol import crypto
from protocol.errors import CryptoError, RemoteProtocolError, ReplayError

MAX_FORWARD_JUMP = 2000
"""Largest gap a receiver will ratchet across in one chain: twice the epoch's message cap
(``EpochLimits.max_messages``), so an honest chain never comes near it (libsignal: 25,000)."""
MAX_SKIPPED_KEYS = 1000
"""Skipped-message keys kept per epoch over all senders, oldest evicted first: one full
epoch of late messages (libsignal keeps 2,000 per chain; OpenMLS 5 by default)."""
MAX_CHAIN_LENGTH = 2000
"""A sender seals at most this many messages in one epoch; the next needs a new epoch."""

_L_CHAIN = crypto.kdf_label("ks:sender-chain")
_L_MESSAGE = crypto.kdf_label("ks:message-key")
_L_NEXT = crypto.kdf_label("ks:chain-next")


def chain_start(sender_root: bytes | bytearray, sender: int) -> bytes:
    """The chain key for a sender's first message (seq 1) in an epoch."""
    return crypto.kdf(sender_root, _L_CHAIN, sender.to_bytes(8, "big"))


def message_key(chain: bytes | bytearray) -> bytes:
    return crypto.kdf(chain, _L_MESSAGE)


def chain_next(chain: bytes | bytearray) -> bytes:
    return crypto.kdf(chain, _L_NEXT)


class Chain:
    """One sender's chain in one epoch, as the sender or any receiver holds it."""

    __slots__ = ("sender", "next_seq", "_key")

    def __init__(self, sender: int, start: bytes) -> None:
        self.sender = sender
        self.next_seq = 1
        self._key = bytearray(start)

    def step(self) -> tuple[int, bytes]:
        """The key for ``next_seq``; the chain moves on and the old chain key is wiped."""
        if not any(self._key):
            raise CryptoError("this chain was wiped")
        seq = self.next_seq
        key = message_key(self._key)
        self._key[:] = chain_next(self._key)
        self.next_seq += 1
        return seq, key

    def skip(self) -> None:
        """Move past ``next_seq`` without deriving its key (it could not be kept anyway)."""
        self._key[:] = chain_next(self._key)
        self.next_seq += 1

    def peek(self, seq: int) -> bytes:
        """The key for a future ``seq`` without moving the chain (nothing is deleted)."""
        if not any(self._key):
            raise CryptoError("this chain was wiped")
        if seq < self.next_seq:
            raise ReplayError("that message key was already used or has been forgotten")
        key = bytes(self._key)
        for _ in range(seq - self.next_seq):
            key = chain_next(key)
        return message_key(key)

    def wipe(self) -> None:
        crypto.wipe(self._key)

    def __repr__(self) -> str:
        return f"Chain(sender={self.sender}, next_seq={self.next_seq})"


class EpochRatchets:
    """All chains of one epoch for one member: its own sending chain and one receiving chain
    per other member, with the epoch's skipped keys (9.5)."""

    __slots__ = ("epoch", "own", "_send", "_recv", "_skipped", "_peeked")

    def __init__(
        self, sender_root: bytes | bytearray, epoch: int, own: int, members: Iterable[int]
    ) -> None:
        self.epoch = epoch
        self.own = own
        self._send = Chain(own, chain_start(sender_root, own))
        self._recv: dict[int, Chain] = {
            m: Chain(m, chain_start(sender_root, m)) for m in set(members) if m != own
        }
        self._skipped: dict[tuple[int, int], bytearray] = {}
        self._peeked: tuple[int, int] | None = None
        """The ``(sender, seq)`` whose key ``key_for`` last derived at the head of its chain:
        ``consume`` then only moves the chain on (one hash fewer on the common path)."""

    # -- sending -----------------------------------------------------------------------------
    def next_send(self) -> tuple[int, bytes]:
        """``(seq, message_key)`` for this member's next message; the key is never kept."""
        if self._send.next_seq > MAX_CHAIN_LENGTH:
            raise CryptoError("this epoch has carried all the messages it may; wait for a rekey")
        return self._send.step()

    @property
    def sent(self) -> int:
        return self._send.next_seq - 1

    # -- receiving ---------------------------------------------------------------------------
    def key_for(self, sender: int, seq: int) -> bytes:
        """The key for ``(sender, seq)`` without consuming it: call :meth:`consume` once the
        message verified and opened, so a forged message cannot burn a genuine key.

        Raises ReplayError for a used (or evicted) key, RemoteProtocolError for an unknown
        sender or a jump past :data:`MAX_FORWARD_JUMP`. A member's own messages relayed back
        to it have no receiving chain here: recognise them by sender and skip them.
        """
        chain = self._chain(sender)
        if seq < 1:
            raise RemoteProtocolError("sequence numbers start at 1")
        if seq < chain.next_seq:
            skipped = self._skipped.get((sender, seq))
            if skipped is None:
                raise ReplayError("that message key was already used or has been forgotten")
            return bytes(skipped)
        if seq - chain.next_seq >= MAX_FORWARD_JUMP:
            raise RemoteProtocolError("sequence number jumps too far ahead")
        self._peeked = (sender, seq) if seq == chain.next_seq else None
        return chain.peek(seq)

    def consume(self, sender: int, seq: int) -> list[tuple[int, int]]:
        """Delete the key for ``(sender, seq)``, keeping keys of any messages it skipped.

        Returns the ``(sender, seq)`` pairs whose keys were evicted to stay within
        :data:`MAX_SKIPPED_KEYS` (they can no longer be opened: show them as lost).
        """
        chain = self._chain(sender)
        if seq < chain.next_seq:
            skipped = self._skipped.pop((sender, seq), None)
            if skipped is None:
                raise ReplayError("that message key was already used or has been forgotten")
            crypto.wipe(skipped)
            return []
        if seq - chain.next_seq >= MAX_FORWARD_JUMP:
            raise RemoteProtocolError("sequence number jumps too far ahead")
        evicted: list[tuple[int, int]] = []
        while seq - chain.next_seq > MAX_SKIPPED_KEYS:  # older than anything that can be kept
            evicted.append((sender, chain.next_seq))
            chain.skip()
        while chain.next_seq < seq:
            skipped_seq, key = chain.step()
            self._skipped[(sender, skipped_seq)] = bytearray(key)
        if self._peeked == (sender, seq):
            chain.skip()  # its key was derived by key_for and handed out; nothing kept here
        else:
            chain.step()
        self._peeked = None
        while len(self._skipped) > MAX_SKIPPED_KEYS:
            oldest = next(iter(self._skipped))
            crypto.wipe(self._skipped.pop(oldest))
            evicted.append(oldest)
        return evicted

    def skipped(self, sender: int) -> list[int]:
        """Sequence numbers of ``sender`` whose keys are kept for late arrival."""
        return sorted(seq for s, seq in self._skipped if s == sender)

    def _chain(self, sender: int) -> Chain:
        try:
            return self._recv[sender]
        except KeyError:
            raise RemoteProtocolError(
                "a message from someone with no chain in this epoch"
            ) from None

    def wipe(self) -> None:
        self._send.wipe()
        for chain in self._recv.values():
            chain.wipe()
        for key in self._skipped.values():
            crypto.wipe(key)
        self._skipped.clear()

    def secret_buffers(self) -> list[bytearray]:
        """Every secret buffer held (for tests that look for key material after wipe)."""
        chains = [self._send, *self._recv.values()]
        return [c._key for c in chains] + list(self._skipped.values())

    def __repr__(self) -> str:
        return f"EpochRatchets(epoch={self.epoch}, own={self.own}, senders={len(self._recv)})"
