"""Local safety checks (F13-F15): nothing here leaves the machine.

``risk_language`` spots words and phrases that suggest the writer may be in danger (including
common misspellings), so the client can show crisis resources privately before sending.
``oversharing`` spots what could identify the writer: phone numbers, e-mail addresses, street
addresses, links to personal profiles and "my name is ..." phrases.
"""

from __future__ import annotations

import re
import unicodedata

RISK_PHRASES = (
    "kill myself",
    "kil myself",
    "kill my self",
    "killing myself",
    "end my life",
    "end it all",
    "ending it all",
    "want to die",
    "wanna die",
    "wish i was dead",
    "wish i were dead",
    "better off dead",
    "better off without me",
    "no reason to live",
    "dont want to live",
    "don't want to live",
    "dont want to be here",
    "don't want to be here anymore",
    "take my own life",
    "hurt myself",
    "hurting myself",
    "harm myself",
    "self harm",
    "self-harm",
    "selfharm",
    "cut myself",
    "cutting myself",
    "overdose",
    "od on",
    "suicide",
    "suicidal",
    "sucide",
    "suicde",
    "suiside",
    "sewer slide",
    "unalive",
    "kms",
)
_RISK = re.compile(
    r"(?<![a-z])("
    + "|".join(re.escape(p) for p in sorted(RISK_PHRASES, key=len, reverse=True))
    + r")(?![a-z])"
)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("’", "'")
    return re.sub(r"\s+", " ", text)


def risk_language(text: str) -> bool:
    """Whether the draft contains risk language (checked locally; never reported)."""
    return bool(_RISK.search(_normal(text)))


_PHONE = re.compile(r"(?<!\w)(?:\+|00)?\d(?:[\s().-]?\d){7,14}(?!\w)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_STREET = re.compile(
    r"\b\d{1,5}[a-z]?,?\s+(?:[A-Z][\w'-]*\s+){0,3}"
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|place|pl|boulevard|blvd|"
    r"terrace|crescent|straße|strasse|str|weg|gasse|rue|via|calle)\b\.?",
    re.IGNORECASE,
)
_STREET_AFTER = re.compile(
    r"\b(?:[A-Z][\w'-]+\s+){1,3}(?:street|road|avenue|lane|drive|straße|strasse|weg)\s+\d{1,5}\b",
    re.IGNORECASE,
)
_STREET_COMPOUND = re.compile(r"\b\w+(?:straße|strasse|weg|gasse|gatan|vej)\s+\d{1,5}\b", re.I)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")  # UK postcodes
_PROFILE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:facebook|fb|instagram|twitter|x|tiktok|linkedin|snapchat|"
    r"reddit|github|youtube|threads|bsky)\.(?:com|app|me|net)/[\w@./-]+|@[a-z0-9_]{3,}\b",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b(?:my name is|my name's|i'm called|i am called|call me|my real name)\s+[A-Za-z]",
    re.IGNORECASE,
)


def oversharing(text: str) -> list[str]:
    """What in the draft could identify the writer; an empty list when nothing was found."""
    found = []
    if _EMAIL.search(text):
        found.append("an e-mail address")
        text = _EMAIL.sub(" ", text)
    if _PROFILE.search(text):
        found.append("a link to a personal profile")
    if _PHONE.search(text):
        found.append("a phone number")
    if (
        _STREET.search(text)
        or _STREET_AFTER.search(text)
        or _STREET_COMPOUND.search(text)
        or _POSTCODE.search(text)
    ):
        found.append("a street address")
    if _NAME.search(_normal(text)):
        found.append("your name")
    return found


def matches_filter(text: str, words: set[str]) -> bool:
    """Personal trigger filter (F15): whether a message mentions any of ``words``."""
    normal = _normal(text)
    return any(re.search(r"(?<!\w)" + re.escape(w.casefold()), normal) for w in words if w)
