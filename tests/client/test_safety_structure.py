"""The structural layer of the risk check: a harm word about the writer, in one clause."""

from __future__ import annotations

import pytest

from circle_client.safety import risk_categories, risk_language
from circle_client.safety.lexicon import shipped
from circle_client.safety.structure import stem
from circle_client.safety.text import canonical_tokens


def structural(text: str) -> set[str]:
    """The categories the structural layer alone finds (no phrase lists, no idiom spans)."""
    lexicon = shipped()
    tokens = [t for t in canonical_tokens(text) if t not in lexicon.fillers]
    return set(lexicon.structure.categories(tokens))


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I was tempted to burn myself again tonight", "self_harm"),
        ("part of me is ready to end it", "intent"),
        ("I keep praying I'll die in my sleep", "passive"),
        ("I want to stop existing", "passive"),
        ("thinking about jumping off the bridge", "method"),
        ("I overdosed on saturday", "method"),
        ("I feel so hopeless", "hopelessness"),
        ("the urge to cut is so strong", "self_harm"),
        ("I'm going to take my own life", "intent"),
        ("quisiera morirme y dejar de sentir", "passive"),
        ("tengo ganas de cortarme los brazos", "self_harm"),
        ("quiero acabar con todo", "intent"),
        ("ich habe Lust, mich zu schneiden", "self_harm"),
        ("ich will mir das Leben nehmen", "intent"),
        ("ich wünschte, ich wäre tot", "passive"),
        ("je pense à me supprimer", "intent"),
        ("j'ai envie de me brûler", "self_harm"),
    ],
)
def test_the_shape_is_enough_without_a_listed_phrase(text: str, category: str) -> None:
    assert category in structural(text)
    assert category in risk_categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "I would never hurt myself, my kids need me",  # negated
        "my cousin wants to die whenever he loses",  # someone else
        "in the film she kills herself and I cried",  # a story
        "the main character wants to die in the last episode",
        "I cut myself cooking",  # an accident
        "I think of myself as a failure",  # "off" and "of" fold together
        "my boss is going to kill me",  # "kill me" with someone else as subject
        "I want to disappear into the mountains",
        "I hope I don't wake up late tomorrow",
        "me corté el pelo",
        "el calor me está matando",
        "die Hitze bringt mich noch um",
        "ich habe mich beim Kochen geschnitten",
        "ce boulot va me tuer",
        "je me suis coupé le doigt en cuisinant",
        "I love her so much",  # "her" is not Spanish "herir"
    ],
)
def test_the_shape_is_not_enough_when_it_is_suppressed(text: str) -> None:
    assert not structural(text)
    assert not risk_language(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'I want to die' is a line from the song", False),  # quoted and a story
        ("a documentary on suicide", False),
        ("un documental sobre el suicidio", False),
        ("ein Film über Suizid", False),
        ("I'm dying to see you", False),
        ("I could kill for a coffee", False),
        ("this week is killing me", False),
        ("I'm not suicidal", False),
        ("I'm suicidal", True),
    ],
)
def test_idioms_negation_quotes_and_stories(text: str, expected: bool) -> None:
    assert risk_language(text) is expected


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("es", ["matar", "mato", "matando", "mataba"]),
        ("de", ["ritzen", "ritze", "ritzt"]),
        ("fr", ["couper", "coupe", "coupait", "coupant"]),
    ],
)
def test_inflections_share_a_stem(language: str, forms: list[str]) -> None:
    stems = {stem(canonical_tokens(form)[0], language) for form in forms}
    assert len(stems) == 1, stems


def test_enclitics_and_participles_name_the_writer() -> None:
    checker = shipped().structure
    (hit,) = [h for h in checker.harm_of(canonical_tokens("cortarme")[0]) if h.language == "es"]
    assert hit.enclitic_self
    assert any(h.language == "de" for h in checker.harm_of(canonical_tokens("geritzt")[0]))
