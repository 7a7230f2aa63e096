"""Normalising a draft into canonical tokens for the local safety checks.

People in distress rarely type the dictionary form: they use curly apostrophes, drop accents,
stretch words ("dieee"), swap letters for digits ("k1ll") or space letters out ("s u i c i d e").
``canonical_tokens`` undoes those habits so one lexicon entry matches all of them; ``lemma`` folds
common inflections ("killing", "killed", "kills" -> "kil") so entries need not list each form
(the Spanish, German and French endings are dropped by ``structure.stem`` on top of this).
Quoted text is dropped (someone else's words, a title), and clause ends become ``#`` tokens
(commas ``,``) so that negation and gaps never reach across a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

BOUNDARY = "#"
COMMA = ","

_APOSTROPHES = str.maketrans({c: "'" for c in "’‘ʼ´`′"})
_QUOTED = re.compile(r"\"[^\"\n]{1,300}\"|“[^”\n]{1,300}”|„[^“”\n]{1,300}[“”]|«[^»\n]{1,300}»")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .*_-]){3,}[a-z](?![a-z])")
_SPACED_SEPARATORS = re.compile(r"[ .*_-]")
_LEET_WORD = re.compile(
    r"(?<![\w$@|!])(?:[a-z]+(?:[013457$@|!]+[a-z]+)+[013457$@|]*|[a-z]+[013457$@|]+(?!\w)|\$[a-z]+)"
)
_LEET_HINT = re.compile(r"[a-z][013457$@|!]|\$[a-z]")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a"}
)
_LEET_MORE = str.maketrans({"!": "i", "|": "l"})
_CONTRACTION = re.compile(r"'(?=(?:t|s|m|d|re|ve|ll)\b)")
_TOKEN = re.compile(r"[^\W_]+|[.!?;:\n…]+|[,()\[\]—–]")
_RUNS = re.compile(r"(.)\1+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LETTER_RUNS = re.compile(r"([a-z])\1+")  # after folding, so Latin letters are ASCII
_MY_SELF = re.compile(r"\bmy\s+self\b")
_CLAUSE_WORDS = frozenset({"but", "though", "pero", "aber", "mais"})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def fold(text: str) -> str:
    """NFKC, case folding, one apostrophe, no accents: the form every check compares."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFD", text))


def _unleet(match: re.Match[str]) -> str:
    return match.group(0).translate(_LEET).translate(_LEET_MORE)


def _unspace(match: re.Match[str]) -> str:
    return _SPACED_SEPARATORS.sub("", match.group(0))


def lemma(token: str) -> str:
    """A crude stem shared by drafts and lexicons: doubled letters once, common endings off.

    It does not need to be a real word, only the same for "kill", "kills", "killed", "killing"
    and "kil"; lexicon entries pass through the same function, so both sides agree.
    """
    return _strip(_RUNS.sub(r"\1", token))


def _strip(token: str) -> str:
    """``lemma`` without the doubled letters (the draft has them removed all at once)."""
    if len(token) > 4 and token.endswith("ying"):
        token = token[:-4] + "ie"
    for suffix, keep in (("ing", 3), ("ed", 2), ("s", 3)):
        if token.endswith(suffix) and len(token) - len(suffix) >= keep:
            token = token[: -len(suffix)]
            break
    if token.endswith("e") and len(token) >= 3:
        token = token[:-1]
    return token


def is_number(token: str) -> bool:
    """Whether a token is a plain number ("3", "2.5")."""
    return bool(_NUMBER.fullmatch(token))


def canonical_tokens(text: str) -> list[str]:
    """The draft as canonical tokens: folded, unquoted, un-leeted, lemmatised, with boundaries."""
    text = fold(_QUOTED.sub(" . ", unicodedata.normalize("NFKC", text)))
    text = _SPACED.sub(_unspace, text)
    if _LEET_HINT.search(text):
        text = _LEET_WORD.sub(_unleet, text)
    text = _CONTRACTION.sub("", text).replace("'", " ")
    if "self" in text:
        text = _MY_SELF.sub("myself", text)
    text = _LETTER_RUNS.sub(r"\1", text)
    tokens: list[str] = []
    last = BOUNDARY
    for raw in _TOKEN.findall(text):
        token = _canonical(raw)
        if token is BOUNDARY or token is COMMA:
            if last is BOUNDARY or last is COMMA:
                if token is BOUNDARY and tokens:
                    tokens[-1] = BOUNDARY
                last = tokens[-1] if tokens else BOUNDARY
                continue
        tokens.append(token)
        last = token
    return tokens


@lru_cache(maxsize=4096)
def _canonical(raw: str) -> str:
    """One token's canonical form; cached in memory because drafts repeat their words."""
    if raw[0] in ".!?;:\n…()[]—–":
        return BOUNDARY
    if raw == "," or raw in _CLAUSE_WORDS:
        return COMMA
    if raw.isdigit():
        return raw
    return _strip(raw)
