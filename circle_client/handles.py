"""Throwaway handle suggestions: a random friendly ``adjective-animal`` (F3)."""

from __future__ import annotations

import re
import secrets

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
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")


def suggest_handle(randbelow: object = secrets.randbelow) -> str:
    pick = randbelow  # injectable for deterministic tests
    return f"{ADJECTIVES[pick(len(ADJECTIVES))]}-{ANIMALS[pick(len(ANIMALS))]}"  # type: ignore[operator]


def check_handle(handle: str) -> str | None:
    """None if the handle is fine; otherwise what to change."""
    if not HANDLE_RE.match(handle):
        return (
            "Use 3-32 lowercase letters, digits or dashes, like quiet-otter. "
            "Do not use your real name."
        )
    return None
