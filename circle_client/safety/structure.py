"""The structural layer of the risk check: a harm word about the writer, in one clause.

The phrase lists in the lexicons catch wordings someone wrote down; this layer catches new ones
from their shape. A harm word (die, kill, end, hurt, cut, overdose, disappear, not wake up, hang,
jump ...) counts when, in the same clause, the writer is its object ("hurt myself", "end my
life", "me corto", "je me coupe", "mich ritzen") or its subject with a wish, plan or thought
before it ("I keep wishing I could disappear", "quiero morirme", "ich will sterben"). It does not
count when the clause is negated ("I would never hurt myself"), about someone else ("my brother
wants to die"), about a film, book or song, or part of an idiom the lexicons list.

Words are compared as simple stems: English uses ``text.lemma``; Spanish, German and French
drop common verb and noun endings, Spanish enclitics ("matarme" is "matar" + "me") and the German
participle "ge-" ("geritzt" is "ritz"). The word lists are the ``[structure]`` table of each
lexicon file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import pairwise

from circle_client.safety.text import BOUNDARY, COMMA, canonical_tokens

# Harm kinds: what else the clause must hold for the harm word to count.
SELF = "self"  # the writer as object: "cut myself", "me scarifier", "mich ritzen"
HURT = "hurt"  # the same, with a wish, a body part or "again" ("me corto los brazos")
LIFE = "life"  # the writer's life as object: "end my life", "acabar con mi vida"
IT = "it"  # "it", "things", "everything" as object, with the writer wishing or planning it
WISH = "wish"  # the writer as subject, wishing, planning or thinking it: "I want to die"
NOT = "not"  # the same, negated: "I hope I don't wake up", "ne plus exister"
ACT = "act"  # the writer as subject, no wish needed: "I overdosed"
BARE = "bare"  # nothing after it, with a wish or "again": "the urge to cut", "cutting again"
KINDS = (SELF, HURT, LIFE, IT, WISH, NOT, ACT, BARE)
OBJECT_WINDOW = 3  # tokens between a harm verb and its object, or an object pronoun before it
NOT_WINDOW = 4  # tokens between "not" and the word it negates

_SUFFIXES = {
    "en": (),
    "es": (
        "iendo", "ando", "ieron", "aron", "arias", "aria", "eria", "iria", "ieras", "iera",
        "aras", "ara", "aba", "ado", "ada", "ido", "ida", "amos", "emos", "imos", "ar", "er",
        "ir", "an", "en", "as", "es", "o", "a", "i", "e",
    ),
    "fr": (
        "erais", "erait", "aient", "erai", "issant", "aitr", "ais", "ait", "ant", "ent", "ons",
        "iez", "er", "ir", "ez", "ai", "is", "it", "r", "u", "i",
    ),
    "de": ("ungen", "ung", "ten", "te", "est", "et", "st", "en", "em", "er", "es", "t", "e", "n"),
}  # fmt: skip
_ENCLITIC = re.compile(r"(?<=ar|er|ir|do)(m|nos|t|s|l|lo|la)$")  # "matarme" -> "matarm" here
MIN_STEM = 3


def stem(token: str, language: str) -> str:
    """A crude stem of a canonical token in one language (a shared key, not a real word)."""
    for suffix in _SUFFIXES[language]:
        if token.endswith(suffix) and len(token) - len(suffix) >= MIN_STEM:
            return token[: -len(suffix)]
    return token


def _forms(token: str, language: str) -> list[tuple[str, bool]]:
    """The stems a token may be, each with whether it carried the writer as an enclitic."""
    forms = [(stem(token, language), False)]
    if language == "es":
        enclitic = _ENCLITIC.search(token)
        if enclitic:
            forms.append((stem(token[: enclitic.start()], language), enclitic.group(1) == "m"))
    elif language == "de" and token.startswith("ge") and len(token) > 5:
        forms.append((stem(token[2:], language), False))
    return forms


@dataclass(frozen=True)
class Harm:
    """A harm word found in a draft: its language, kind, category and enclitic "me"."""

    language: str
    kind: str
    category: str
    enclitic_self: bool


@dataclass(frozen=True)
class Words:
    """One language's structural word lists, as canonical tokens (stems for harm words)."""

    subject: frozenset[str]  # the writer as subject ("i", "ich", "je", "yo", "quiero")
    after: frozenset[str]  # the writer as object after the verb ("myself")
    weak_after: frozenset[str]  # the same, but only with a wish ("kill me")
    before: frozenset[str]  # object pronouns before the verb ("me", "m")
    anywhere: frozenset[str]  # object pronouns anywhere in the clause ("mich", "mir")
    possessive: frozenset[str]  # "my", "mi", "mein", "ma"
    life: frozenset[str]  # "life", "vida", "leben", "vie"
    body: frozenset[str]  # wrists, arms ... (for cutting, burning)
    it: frozenset[str]  # "it", "things", "everything", "todo"
    cue: frozenset[str]  # want, wish, plan, think ... before the harm word
    third: frozenset[str]  # verbs whose subject is someone else ("esta" in "me esta matando")
    stop: frozenset[str]  # work like "not" before a ``not`` word: "stop existing", "dejar de"
    particles: frozenset[str]  # may stand between a verb and "myself" ("cut up myself")
    everyday: frozenset[str]  # make a harm word ordinary ("cut myself cooking", "wake up late")
    markers: frozenset[str]  # common words of the language, to tell which one a draft is in
    media: frozenset[str]  # films, books, songs: a harm word there is a story, not the writer
    idiom_after: frozenset[str]  # right after a harm word, make it a figure ("die of", "kill for")
    idiom_pairs: frozenset[tuple[str, str]]  # (harm stem, next word): "jump in", "jump at"
    harm: Mapping[str, tuple[tuple[str, str], ...]]  # stem -> (kind, category) pairs
    pro_drop: bool  # the subject pronoun is usually left out ("me corto": "I cut myself")
    comma_ends_clause: bool  # not in German: "ich habe Lust, mich zu schneiden" is one clause


@dataclass(frozen=True)
class Structure:
    """Every language's structural word lists, and the words that end the check for all."""

    words: Mapping[str, Words]
    negations: frozenset[str]
    people: Mapping[str, tuple[frozenset[str], frozenset[str]]]  # language -> (self, others)


def _canonical(words: Sequence[str]) -> frozenset[str]:
    return frozenset(t for w in words for t in canonical_tokens(w) if t not in (BOUNDARY, COMMA))


def compile_words(
    language: str, table: Mapping[str, object], harm_table: Mapping[str, object]
) -> Words:
    """A language's ``[structure]`` and ``[harm.<kind>]`` tables as ``Words``."""

    def strings(key: str, source: Mapping[str, object] = table) -> list[str]:
        values = source.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"structure.{key} must be a list of strings")
        return values

    harm: dict[str, list[tuple[str, str]]] = {}
    for kind in KINDS:
        entries = harm_table.get(kind, {})
        if not isinstance(entries, dict):
            raise ValueError(f"harm.{kind} must be a table")
        for category in entries:
            for word in strings(category, entries):
                for token in canonical_tokens(word):
                    key = stem(token, language)
                    if (kind, category) not in harm.setdefault(key, []):
                        harm[key].append((kind, category))
    lists = [f.name for f in fields(Words) if f.type == "frozenset[str]"]
    return Words(
        **{key: _canonical(strings(key)) for key in lists},
        harm={key: tuple(pairs) for key, pairs in harm.items()},
        idiom_pairs=frozenset(
            (stem(first, language), second)
            for pair in strings("idiom_pairs")
            for first, second in [tuple(canonical_tokens(pair))[:2]]
        ),
        pro_drop=table.get("pro_drop", False) is True,
        comma_ends_clause=table.get("comma_ends_clause", True) is not False,
    )


class Checker:
    """The structural check over a draft's canonical tokens (see the module docstring)."""

    def __init__(self, structure: Structure) -> None:
        self.structure = structure
        self.harm_of = lru_cache(maxsize=8192)(self._harm_of)
        self._marks: dict[str, list[str]] = {}  # a common word -> the languages it is common in
        for lang, words in structure.words.items():
            for word in words.markers | words.subject:
                self._marks.setdefault(word, []).append(lang)

    def _harm_of(self, token: str) -> tuple[Harm, ...]:
        found: list[Harm] = []
        for language, words in self.structure.words.items():
            for key, enclitic in _forms(token, language):
                for kind, category in words.harm.get(key, ()):
                    found.append(Harm(language, kind, category, enclitic))
        return tuple(found)

    def categories(
        self,
        tokens: Sequence[str],
        skip: Sequence[tuple[int, int]] = (),
        languages: set[str] | None = None,
    ) -> dict[str, int]:
        """The categories found, each with the token where it was found; ``skip`` are idioms,
        ``languages`` those the draft may be in (worked out here when not given)."""
        found: dict[str, int] = {}
        for h, token in enumerate(tokens):
            hits = self.harm_of(token)
            if not hits or any(a <= h < b for a, b in skip):
                continue
            languages = languages or self.languages(tokens)
            for hit in hits:
                if hit.language not in languages or hit.category in found:
                    continue
                if self._holds(tokens, h, hit):
                    found[hit.category] = h
        return found

    def about_a_story(self, tokens: Sequence[str], i: int, languages: set[str]) -> bool:
        """Whether the clause of token ``i`` names a film, book, song ... ("a film on suicide")."""
        lo, hi = i, i + 1
        while lo > 0 and tokens[lo - 1] not in (BOUNDARY, COMMA):
            lo -= 1
        while hi < len(tokens) and tokens[hi] not in (BOUNDARY, COMMA):
            hi += 1
        media = [self.structure.words[lang].media for lang in languages]
        return any(t in words for t in tokens[lo:hi] for words in media)

    def languages(self, tokens: Sequence[str]) -> set[str]:
        """The languages the draft may be in: those with at least half the top count of
        common words (all of them when there are none), so "her" is not Spanish "herir"."""
        counts = dict.fromkeys(self.structure.words, 0)
        marks = self._marks
        for token in tokens:
            for lang in marks.get(token, ()):
                counts[lang] += 1
        best = max(counts.values())
        return {lang for lang, n in counts.items() if 2 * n >= best and (n or not best)}

    def _holds(self, tokens: Sequence[str], h: int, hit: Harm) -> bool:
        words = self.structure.words[hit.language]
        ends = (BOUNDARY, COMMA) if words.comma_ends_clause else (BOUNDARY,)
        lo = h
        while lo > 0 and tokens[lo - 1] not in ends:
            lo -= 1
        hi = h + 1
        while hi < len(tokens) and tokens[hi] not in ends:
            hi += 1
        clause = tokens[lo:hi]
        if any(t in words.everyday or t in words.media for t in clause):
            return False
        k = h + 1  # the first word after the harm word and its particles ("up", "con")
        while k < hi and tokens[k] in words.particles:
            k += 1
        if hit.kind in (WISH, NOT, BARE) and k < hi and tokens[k] in words.idiom_after:
            return False
        if h + 1 < hi and (stem(tokens[h], hit.language), tokens[h + 1]) in words.idiom_pairs:
            return False  # "jump in", "jump at the chance": said of joining, not of dying
        before = tokens[lo:h]
        negated = [n for n in range(lo, h) if tokens[n] in self.structure.negations]
        if hit.kind == NOT:
            negated += [n for n in range(max(lo, h - NOT_WINDOW), h) if tokens[n] in words.stop]
            if not negated or h - max(negated) > NOT_WINDOW:
                return False
        elif negated:
            return False
        if self._someone_else(tokens, lo, h, hit.language):
            return False
        cue = any(t in words.cue for t in before)
        # "thinking about jumping", "wanna die": a clause may start with the wish, no subject
        subject = any(t in words.subject for t in before) or (
            bool(before) and before[0] in words.cue
        )
        after = tokens[h + 1 : min(hi, h + 2 + OBJECT_WINDOW)]
        if hit.kind in (SELF, HURT):
            if hit.kind == HURT and not cue and not any(t in words.body for t in after):
                return False
            strength = self._object(tokens, lo, h, hi, hit, words)
            return strength == 2 or (strength == 1 and cue and subject)
        if hit.kind == LIFE:
            return self._my_life(clause, h - lo, hit, words)
        if hit.kind == ACT:
            return subject
        if hit.kind == BARE:
            return (k == hi or k > h + 1) and (cue or "again" in after)
        if hit.kind == IT:
            return k < hi and tokens[k] in words.it and cue and subject
        return cue and subject

    @staticmethod
    def _my_life(clause: Sequence[str], h: int, hit: Harm, words: Words) -> bool:
        """Whether the harm verb at ``h`` has the writer's life as its object: "end my (own)
        life", "quitarme la vida", "mir das Leben nehmen" (German: anywhere in the clause)."""
        span = clause if words.anywhere else clause[h + 1 : h + 2 + OBJECT_WINDOW]
        for n, token in enumerate(span):
            if token not in words.life:
                continue
            if hit.enclitic_self or any(t in words.anywhere for t in clause):
                return True
            if any(t in words.possessive for t in span[max(n - 2, 0) : n]):
                return True
        return False

    def _object(
        self, tokens: Sequence[str], lo: int, h: int, hi: int, hit: Harm, words: Words
    ) -> int:
        """2 when the writer is the harm verb's object, 1 when only weakly so ("kill me")."""
        if hit.enclitic_self:
            return 2
        after = tokens[h + 1 : min(hi, h + 1 + OBJECT_WINDOW)]
        if after and after[0] in words.weak_after:
            return 1
        if after and (
            after[0] in words.after
            or (len(after) > 1 and after[0] in words.particles and after[1] in words.after)
        ):
            return 2
        if any(a in words.possessive and b in words.body for a, b in pairwise(after)):
            return 2
        for k in range(h - 1, max(h - OBJECT_WINDOW, lo) - 1, -1):
            if tokens[k] in words.before:
                if any(t in words.third for t in tokens[k + 1 : h + 1]):
                    return 0
                return 2 if self._subject_before(tokens, lo, h, words) else 1
        if words.anywhere and any(t in words.anywhere for t in tokens[lo:hi]):
            return 2 if self._subject_before(tokens, lo, h, words) else 0
        return 0

    @staticmethod
    def _subject_before(tokens: Sequence[str], lo: int, h: int, words: Words) -> bool:
        return words.pro_drop or any(t in words.subject for t in tokens[lo:h])

    def _someone_else(self, tokens: Sequence[str], lo: int, h: int, language: str) -> bool:
        """Whether the nearest person before the harm word, in its clause, is someone else."""
        mine, others = self.structure.people[language]
        for k in range(h - 1, lo - 1, -1):
            if tokens[k] in mine:
                return False
            if tokens[k] in others:
                return True
        return False
