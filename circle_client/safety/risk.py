"""Risk language in the writer's own draft (F13): checked locally, never reported anywhere.

The categories follow published practice. The Columbia Suicide Severity Rating Scale (C-SSRS)
screening items give passive ideation ("wish you were dead or could go to sleep and not wake
up"), active thoughts and intent (``intent``), method, and preparatory behaviour (``preparation``:
collecting pills, writing a note, giving things away). Crisis Text Line's published findings on
predictive words (medication names such as ibuprofen and Tylenol signalled imminent risk more
often than the word "suicide" itself) shaped the ``method`` entries and the choice to treat a
bare "suicide" with care (idioms, titles, other people).
Koko's and Crisis Text Line's notes on misspellings and slang ("sucide", "unalive", "kms") are
why drafts are normalised and entries are stems, not exact strings. Perceived burdensomeness
("everyone would be better off without me") comes from Joiner's interpersonal theory of suicide,
and hopelessness from Beck's hopelessness scale.

Two layers run on the same canonical tokens (``text``). The phrase lists of the lexicons catch
wordings written down in advance. The structural layer (``structure``) catches new ones from
their shape: a harm word (die, kill, end, hurt, cut, overdose, disappear, not wake up, hang,
jump ...) with the writer as its object ("burn myself", "me corto", "mich ritzen", "end my
life") or as its subject with a wish, plan or thought before it ("I keep praying I'll die"),
in one clause. This follows the way the C-SSRS items and Joiner's theory are worded (the self
as the object of the harm) and the lexico-syntactic approach of clinical NLP tools such as
NegEx (Chapman et al., 2001: a trigger word, a target and a window that ends at the clause),
whose negation window works the same way.

Fillers ("just", "einfach", "juste") are left out before matching. A match is ignored when it
is negated just before ("I'm not suicidal"), quoted, part of an idiom ("dying to see", "Suicide
Squad", "could kill for"), about someone else ("she's suicidal"), about a film, book or song
("a documentary on suicide"), or "kms" after a number. How well this works, on sentences it
was and was not tuned on, is in README.md and ``python -m bench.safety``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

from circle_client.safety.lexicon import Index, Lexicon, People, Rule, host_rules, shipped
from circle_client.safety.text import BOUNDARY, COMMA, canonical_tokens, is_number

IDIOM = "idioms"
NEGATION_WINDOW = 5
SUBJECT_WINDOW = 8


def _spans(
    tokens: list[str], line: str, starts: list[int], indexes: Sequence[Index]
) -> list[tuple[int, int, Rule]]:
    """Every (first token, end token, rule) where a rule of one of ``indexes`` matches."""
    found: list[tuple[int, int, Rule]] = []
    for index in indexes:
        exact, prefix = index.exact, index.prefix
        for i, token in enumerate(tokens):
            if token not in exact and token[:3] not in prefix:
                continue
            for rule in index.candidates(token):
                match = rule.regex.match(line, starts[i])
                if match:
                    end = line.count(" ", starts[i], match.end())
                    found.append((i, i + max(end, 1), rule))
    return found


def _negated(tokens: list[str], start: int, lexicon: Lexicon) -> bool:
    for k in range(start - 1, max(start - 1 - NEGATION_WINDOW, -1), -1):
        if tokens[k] in (BOUNDARY, COMMA):
            return False
        if tokens[k] in lexicon.negations:
            return True
    return False


def _about_someone_else(tokens: list[str], start: int, people: People) -> bool:
    """Whether the nearest person before the phrase, in its clause, is someone else."""
    for k in range(start - 1, max(start - 1 - SUBJECT_WINDOW, -1), -1):
        if tokens[k] == BOUNDARY:
            return False
        if tokens[k] in people.self_words:
            return False
        if tokens[k] in people.other_words:
            return True
    return False


def risk_categories(text: str, extra: Sequence[str] = ()) -> set[str]:
    """The kinds of risk language in a draft (an empty set for none); ``extra`` is the host's."""
    lexicon = shipped()
    tokens = [t for t in canonical_tokens(text) if t not in lexicon.fillers]
    if not tokens:
        return set()
    line = " " + " ".join(tokens) + " "
    starts = [0, *accumulate(len(t) + 1 for t in tokens)]
    starts = [s + 1 for s in starts[:-1]]
    indexes = [lexicon.rules]
    if extra:
        indexes.append(host_rules(tuple(extra)))
    matches = _spans(tokens, line, starts, indexes)
    idioms = [(i, j) for i, j, rule in matches if rule.category == IDIOM]
    found: set[str] = set()
    people: People | None = None
    languages: set[str] | None = None
    for i, j, rule in matches:
        if rule.category in found or rule.category == IDIOM:
            continue
        if any(a < j and i < b for a, b in idioms):
            continue
        if _negated(tokens, i, lexicon):
            continue
        if not rule.names_self:
            people = people or lexicon.people_of(tokens)
            if _about_someone_else(tokens, i, people):
                continue
            languages = languages or lexicon.structure.languages(tokens)
            if lexicon.structure.about_a_story(tokens, i, languages):
                continue
        if tokens[i] in lexicon.units and i > 0 and is_number(tokens[i - 1]):
            continue
        found.add(rule.category)
    for category in lexicon.structure.categories(tokens, idioms, languages):
        found.add(category)
    return found


def risk_language(text: str, extra: Sequence[str] = ()) -> bool:
    """Whether the draft contains risk language (checked locally; never reported)."""
    return bool(risk_categories(text, extra))
