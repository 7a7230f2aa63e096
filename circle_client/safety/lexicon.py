"""Risk lexicons: the pattern language, loading the shipped data files, and host phrases.

Each language is a TOML file in ``circle_client/safety/lexicons/`` (read with importlib.resources,
so it works from a wheel). A pattern is a run of slots separated by spaces, matched against the
canonical tokens of ``text.canonical_tokens``:

- ``word`` one token, compared after the same folding and ``lemma`` as the draft
  ("killing" matches ``kill``); ``a|b`` alternatives; ``no_one`` several tokens in one alternative;
- ``word*`` any token starting with ``word`` ("unaliv*" matches "unaliving", "unalived");
- ``@name`` a set from the file's ``[sets]`` table (``@pills``, or ``@pills|pill_box``);
- ``slot?`` an optional slot; ``...`` up to three tokens that are not a negation or a clause end;
  ``....`` up to six; ``$`` the end of a clause; ``,?`` an optional comma.

Each file also has a ``[structure]`` table and ``[harm.<kind>]`` tables: the word lists of the
structural layer (``structure``: who is the writer, which words are wishes, which are harm).

Host phrases (delivered by the server with the crisis resources) are plain text: they are
normalised like a draft and must appear in it word for word, e.g. "quiero dejar de existir".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from circle_client.safety.structure import Checker, Structure, compile_words
from circle_client.safety.text import BOUNDARY, COMMA, canonical_tokens, fold, lemma

LANGUAGES = ("en", "es", "de", "fr")
CATEGORIES = ("intent", "passive", "method", "preparation", "self_harm", "hopelessness")
HOST = "host"
GAP_TOKENS = 3
LONG_GAP_TOKENS = 6
_RUNS = re.compile(r"(.)\1+")
_NONE: list[Rule] = []


@dataclass(frozen=True)
class Rule:
    """One compiled pattern: its category, its regex and whether it names the writer itself."""

    category: str
    source: str
    regex: re.Pattern[str]
    names_self: bool


@dataclass
class Index:
    """Rules keyed by their first token (exact, or a three-letter prefix) for a fast scan."""

    exact: dict[str, list[Rule]] = field(default_factory=dict)
    prefix: dict[str, list[tuple[str, Rule]]] = field(default_factory=dict)

    def add(self, first: Iterable[tuple[str, bool]], rule: Rule) -> None:
        for word, is_prefix in first:
            if is_prefix:
                self.prefix.setdefault(word[:3], []).append((word, rule))
            else:
                self.exact.setdefault(word, []).append(rule)

    def candidates(self, token: str) -> list[Rule]:
        found = self.exact.get(token, _NONE)
        prefixed = self.prefix.get(token[:3])
        if prefixed is None:
            return found
        return found + [rule for word, rule in prefixed if token.startswith(word)]


@dataclass(frozen=True)
class People:
    """Words that name the writer and words that name someone else, in one language."""

    self_words: frozenset[str]
    other_words: frozenset[str]


@dataclass
class Lexicon:
    """Every language's rules and idioms, merged (a draft may mix languages); people per language.

    "he" is someone else in English and "I have" in Spanish, so the subject check uses the
    language whose common words (``markers``) the draft uses most.
    """

    rules: Index  # the risk categories and the idioms (category "idioms") together
    negations: frozenset[str]
    self_words: frozenset[str]
    people: dict[str, People]
    markers: dict[str, frozenset[str]]
    units: frozenset[str]
    fillers: frozenset[str]
    structure: Checker  # the structural layer (``structure``), built from ``[structure]``

    def people_of(self, tokens: Sequence[str]) -> People:
        """The people words of the draft's most likely language, or of all when it is unclear."""
        counts = {lang: sum(t in words for t in tokens) for lang, words in self.markers.items()}
        ranked = sorted(counts.values(), reverse=True)
        if ranked[0] == 0 or ranked[0] == ranked[1]:
            return self.anyone
        return self.people[max(counts, key=counts.__getitem__)]

    @property
    def anyone(self) -> People:
        """Every language's people words, leaving out any that is the writer in one of them."""
        self_words = frozenset().union(*(p.self_words for p in self.people.values()))
        others = frozenset().union(*(p.other_words for p in self.people.values()))
        return People(self_words, others - self_words)


def _word(raw: str, canonical: bool = False) -> tuple[str, bool]:
    """A lexicon word in canonical form, and whether it is a prefix (``word*``)."""
    if canonical:
        return raw, False
    if raw.endswith("*"):
        stem = _RUNS.sub(r"\1", fold(raw[:-1]))
        stem = stem[:-1] if stem.endswith("e") else stem
        if len(stem) < 3:
            raise ValueError(f"prefix too short: {raw!r}")
        return stem, True
    return lemma(fold(raw)), False


class PatternCompiler:
    """Turns pattern text into a regex over the canonical string ``" tok tok # tok "``."""

    def __init__(self, sets: Mapping[str, Sequence[str]], negations: Iterable[str]) -> None:
        self.sets = dict(sets)
        stop = "|".join(re.escape(n) for n in sorted({BOUNDARY, COMMA, *negations}))
        self.gap = rf"(?:(?!(?:{stop}) )\S+ ){{0,{GAP_TOKENS}}}"
        self.long_gap = rf"(?:(?!(?:{stop}) )\S+ ){{0,{LONG_GAP_TOKENS}}}"

    def alternatives(self, slot: str) -> list[str]:
        """A slot's alternatives, with ``@set`` names expanded."""
        found: list[str] = []
        for alt in slot.split("|"):
            if alt.startswith("@"):
                if alt[1:] not in self.sets:
                    raise ValueError(f"unknown set: {alt!r}")
                found.extend(self.sets[alt[1:]])
            else:
                found.append(alt)
        return found

    def compile(
        self, category: str, source: str, self_words: frozenset[str], canonical: bool = False
    ) -> tuple[Rule, list[tuple[str, bool]]]:
        """Compile one pattern; ``canonical`` words are already in the draft's token form."""
        slots = source.split()
        if not slots or slots[0] in ("...", "....", "$", ",?") or slots[0].endswith("?"):
            raise ValueError(f"a pattern must start with a word: {source!r}")
        parts: list[str] = []
        first: list[tuple[str, bool]] = []
        names_self = False
        for n, slot in enumerate(slots):
            if slot in ("...", "...."):
                parts.append(self.gap if slot == "..." else self.long_gap)
                continue
            if slot == "$":
                parts.append(r"(?=(?:#|,) |$)")
                continue
            if slot == ",?":
                parts.append(r"(?:, )?")
                continue
            optional = slot.endswith("?") and not canonical
            alts: list[str] = []
            all_self = not optional
            for alt in [slot] if canonical else self.alternatives(slot.rstrip("?")):
                if alt == "$" and not canonical:
                    alts.append(r"(?=(?:#|,) |$)")
                    continue
                words = [_word(w, canonical) for w in alt.split("_") if w]
                if not words:
                    raise ValueError(f"empty alternative in {source!r}")
                if n == 0:
                    first.append(words[0])
                all_self = all_self and any(w in self_words for w, _ in words)
                alts.append(
                    "".join(
                        re.escape(w) + (r"\S* " if is_prefix else " ") for w, is_prefix in words
                    )
                )
            names_self = names_self or (all_self and bool(alts))
            group = "(?:" + "|".join(sorted(alts, key=len, reverse=True)) + ")"
            parts.append(group + "?" if optional else group)
        return Rule(category, source, re.compile("".join(parts)), names_self), first


def _words(values: Iterable[str]) -> frozenset[str]:
    return frozenset(lemma(fold(v)) for v in values)


def _read(language: str) -> dict[str, object]:
    data = resources.files("circle_client.safety").joinpath("lexicons", f"{language}.toml")
    return tomllib.loads(data.read_text(encoding="utf-8"))


def _strings(table: Mapping[str, object], key: str) -> list[str]:
    values = table.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{key} must be a list of strings")
    return values


@lru_cache(maxsize=1)
def shipped() -> Lexicon:
    """The lexicons shipped with the package, compiled once."""
    tables = [_read(language) for language in LANGUAGES]
    negations = _words(n for t in tables for n in _strings(t, "negations"))
    self_words = _words(w for t in tables for w in _strings(t, "self"))
    lexicon = Lexicon(
        rules=Index(),
        negations=negations,
        self_words=self_words,
        people={
            lang: People(_words(_strings(t, "self")), _words(_strings(t, "others")))
            for lang, t in zip(LANGUAGES, tables, strict=True)
        },
        markers={
            lang: _words(_strings(t, "markers")) for lang, t in zip(LANGUAGES, tables, strict=True)
        },
        units=_words(w for t in tables for w in _strings(t, "units")),
        fillers=_words(w for t in tables for w in _strings(t, "fillers")),
        structure=_structure(tables, negations),
    )
    for table in tables:
        sets = table.get("sets", {})
        categories = table.get("categories", {})
        if not isinstance(sets, dict) or not isinstance(categories, dict):
            raise ValueError("sets and categories must be tables")
        compiler = PatternCompiler({k: _strings(sets, k) for k in sets}, negations)
        for category in (*CATEGORIES, "idioms"):
            for source in _strings(categories, category):
                rule, first = compiler.compile(category, source, self_words)
                lexicon.rules.add(first, rule)
    return lexicon


def _structure(tables: Sequence[Mapping[str, object]], negations: frozenset[str]) -> Checker:
    words = {}
    for language, table in zip(LANGUAGES, tables, strict=True):
        structure, harm = table.get("structure", {}), table.get("harm", {})
        if not isinstance(structure, dict) or not isinstance(harm, dict):
            raise ValueError("structure and harm must be tables")
        structure = {**structure, "markers": _strings(table, "markers")}
        words[language] = compile_words(language, structure, harm)
    people = {
        lang: (_words(_strings(t, "self")), _words(_strings(t, "others")))
        for lang, t in zip(LANGUAGES, tables, strict=True)
    }
    return Checker(Structure(words, negations, people))


@lru_cache(maxsize=8)
def host_rules(phrases: tuple[str, ...]) -> Index:
    """The host's extra phrases as rules: plain text, folded like a draft (no pattern syntax)."""
    lexicon = shipped()
    compiler = PatternCompiler({}, lexicon.negations)
    index = Index()
    for phrase in phrases:
        tokens = [
            t for t in canonical_tokens(phrase) if t not in (BOUNDARY, COMMA, *lexicon.fillers)
        ]
        if not tokens:
            continue
        rule, first = compiler.compile(HOST, " ".join(tokens), lexicon.self_words, canonical=True)
        index.add(first, rule)
    return index
