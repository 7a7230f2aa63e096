"""Throwaway handle suggestions: a random friendly ``adjective-animal`` (F3)."""

from __future__ import annotations

import secrets

from protocol.names import handle_problem, normalise_handle

ADJECTIVES = (
    "quiet",
    "gentle",
    "brave",
    "calm",
    "kind",
    "steady",
    "warm",
    "soft",
    "bright",
    "patient",
    "hopeful",
    "still",
    "tender",
    "honest",
    "open",
    "humble",
    "careful",
    "curious",
    "mellow",
    "sunny",
    "silver",
    "misty",
    "golden",
    "willow",
    "amber",
    "cosy",
    "restful",
    "peaceful",
)
ANIMALS = (
    "otter",
    "heron",
    "lynx",
    "finch",
    "owl",
    "fox",
    "badger",
    "wren",
    "hare",
    "robin",
    "seal",
    "deer",
    "sparrow",
    "swan",
    "panda",
    "koala",
    "tortoise",
    "dolphin",
    "lark",
    "bear",
    "moth",
    "crane",
    "puffin",
    "marten",
    "ibis",
    "gecko",
    "beaver",
    "plover",
)


def suggest_handle(randbelow: object = secrets.randbelow) -> str:
    pick = randbelow  # injectable for deterministic tests
    return f"{ADJECTIVES[pick(len(ADJECTIVES))]}-{ANIMALS[pick(len(ANIMALS))]}"  # type: ignore[operator]


def check_handle(handle: str) -> str | None:
    """None if the handle is fine; otherwise what to change and why (the lead facilitator's
    client refuses the same handles, PROTOCOL.md 5.8)."""
    return handle_problem(normalise_handle(handle))
