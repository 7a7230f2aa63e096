"""The cluster's vocabulary in Redis (docs/scale-out.md, "Keys"): key and channel names,
timings, the messages nodes send each other, and the scripts that change ownership.

Kept apart from the broker so that the layout Redis holds is readable in one place.
"""

from __future__ import annotations

PREFIX = "circle:"
SALT_KEY = PREFIX + "salt"
LOBBY_KEY = PREFIX + "lobby"
BEAT_SECONDS = 1.0
"""How often a node says it is alive, refreshes the lobby and checks its peers."""
NODE_TTL_MS = 3000
"""A node that has not said it is alive for this long is taken for dead."""
MISSED_BEATS = 2
"""Consecutive beats a peer must be missing before it is taken for dead."""
RECORD_MARGIN = 60
"""Seconds a circle's keys outlive its end, in case its owner dies just then."""
BUFFER_DELAY = 0.05
"""Seconds relayed frames wait to be appended to their circle's buffer in Redis, together."""
RSEQ_MARGIN = 1000
"""A node taking a circle over numbers on from here past the last stored frame, so that no
number a member may have seen before the owner died is used twice."""

# Messages between nodes, on the channel of the node they are for: [op, from, seq, ...].
ATTACH, FRAME, DETACH, SEND, CLOSE, REROUTE = "a", "f", "d", "s", "c", "r"

WRITE_STATE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('EXPIREAT', KEYS[2], ARGV[3])
return 1
"""
"""Write a circle's snapshot only while this node still owns it (or Redis forgot it)."""

TAKE_OVER = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2])
  return 1
end
return 0
"""
"""Claim a circle from a dead owner; of several nodes trying at once, one wins."""


class BrokerUnavailable(OSError):
    """Redis cannot be reached when the node starts; the message says what to check."""


def circle_key(circle: bytes) -> str:
    return f"{PREFIX}c:{circle.hex()}"


def buffer_key(circle: bytes) -> str:
    return f"{PREFIX}buf:{circle.hex()}"


def alive_key(node: str) -> str:
    return f"{PREFIX}node:{node}"


def channel(node: str) -> str:
    return f"{PREFIX}to:{node}"
