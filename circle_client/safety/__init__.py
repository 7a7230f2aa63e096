"""Local safety checks (F13-F15): nothing here leaves the machine, nothing is written down.

``risk_language`` spots words and phrases that suggest the writer may be in danger, so the
client can show crisis resources privately before sending (see ``risk``). ``oversharing`` spots
what could identify the writer: phone numbers, e-mail addresses, street addresses, national ID
numbers, links to personal profiles and "my name is ..." (see ``oversharing``).
``matches_filter`` is the personal trigger filter.
"""

from __future__ import annotations

import re

from circle_client.safety.personal import oversharing
from circle_client.safety.risk import risk_categories, risk_language
from circle_client.safety.text import fold

__all__ = ["matches_filter", "oversharing", "risk_categories", "risk_language"]


def matches_filter(text: str, words: set[str]) -> bool:
    """Personal trigger filter (F15): whether a message mentions any of ``words``."""
    normal = re.sub(r"\s+", " ", fold(text))
    return any(re.search(r"(?<!\w)" + re.escape(fold(w)), normal) for w in words if w)
