"""Handles that cannot impersonate: one alphabet, one skeleton (S3, F3; PROTOCOL.md 5.8).

A handle is 3-32 characters of ``a-z``, ``0-9`` and ``-`` after NFKC normalisation and case
folding. Everything else (invisible characters such as U+200B, letters from other scripts
such as Cyrillic ``о``, symbols) is refused, which rules out mixed-script look-alikes by
construction. Within that alphabet, two handles clash when their *skeletons* are equal: the
Unicode TS #39 skeleton restricted to the characters the alphabet allows, from the
``confusables.txt`` mappings whose source and target are both ASCII letters or digits
(``0`` -> ``o``, ``1`` -> ``l``, ``rn`` -> ``m``, ``vv`` -> ``w``, ``cl`` -> ``d``).
"""

from __future__ import annotations

import re
import unicodedata

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
"""The handle alphabet, after :func:`normalise_handle`."""

# TS #39 confusables.txt entries with ASCII on both sides, as they apply to the alphabet
# above (case folding has already turned "O" into "o").
_SKELETON_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_SKELETON_CHARS = str.maketrans({"0": "o", "1": "l"})


def normalise_handle(handle: str) -> str:
    """NFKC, then case folded: the form a handle is compared and shown in."""
    return unicodedata.normalize("NFKC", handle).casefold()


def handle_problem(handle: str) -> str | None:
    """None if ``handle`` (already normalised) is allowed; otherwise why not, in plain words."""
    if any(unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp") for ch in handle):
        return "Handles cannot contain hidden or space characters."
    if not handle.isascii():
        return (
            "Handles use only the letters a-z, digits and dashes, so that no one can take a "
            "name that looks like someone else's."
        )
    if not HANDLE_RE.match(handle):
        return (
            "Use 3-32 lowercase letters, digits or dashes, like quiet-otter. "
            "Do not use your real name."
        )
    return None


def skeleton(handle: str) -> str:
    """What ``handle`` looks like: equal skeletons mean one could pass for the other.

    Single characters first (``c1`` becomes ``cl``), then pairs, until nothing changes.
    """
    text = normalise_handle(handle).translate(_SKELETON_CHARS)
    while True:
        before = text
        for pair, single in _SKELETON_PAIRS:
            text = text.replace(pair, single)
        if text == before:
            return text


def looks_like(handle: str, others: list[str]) -> bool:
    """True if ``handle`` could be mistaken for any of ``others``."""
    mine = skeleton(handle)
    return any(skeleton(other) == mine for other in others)
