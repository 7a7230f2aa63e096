"""The safety checks against their evaluation sets (tests/client/safety_eval/*.tsv).

The bounds hold on the main sets, which the lexicons were tuned on (batch by batch, each
measured first); the held-out sets (``*_unseen.tsv``, and ``risk_fresh.tsv`` written before the
structural layer), never tuned on, are measured by ``python -m bench.safety`` and reported in
README.md, not held to a bound here: only their shape is.
"""

from __future__ import annotations

import pytest

from bench.safety import draft, evaluate, held_out, load, time_check
from circle_client.safety import risk_language
from circle_client.safety.lexicon import CATEGORIES, LANGUAGES


@pytest.mark.parametrize(
    ("name", "min_recall", "max_false_alarms"), [("risk", 0.95, 0.05), ("oversharing", 0.9, 0.05)]
)
def test_recall_and_false_alarms(name: str, min_recall: float, max_false_alarms: float) -> None:
    score, wrong = evaluate(name)
    assert score.recall >= min_recall, [s.text for s in wrong if s.should_prompt]
    false_alarms = [s.text for s in wrong if not s.should_prompt]
    assert score.false_alarm_rate <= max_false_alarms, false_alarms


@pytest.mark.parametrize("name", ["risk", "oversharing"])
def test_the_sets_are_large_and_varied(name: str) -> None:
    sentences = load(name)
    assert len(sentences) >= 200
    assert len({s.text for s in sentences}) == len(sentences)
    for language in LANGUAGES:
        mine = [s for s in sentences if s.language == language]
        assert any(s.should_prompt for s in mine) and any(not s.should_prompt for s in mine)


@pytest.mark.parametrize(
    ("name", "suffix", "size", "both_kinds"),
    [
        ("risk", "unseen", 20, False),
        ("oversharing", "unseen", 20, False),
        ("risk", "fresh", 60, True),
    ],
)
def test_the_held_out_sets_are_apart_and_have_both_kinds_in_every_language(
    name: str, suffix: str, size: int, both_kinds: bool
) -> None:
    assert suffix in held_out(name)
    sentences = load(f"{name}_{suffix}")
    assert len(sentences) >= size
    assert len({s.text for s in sentences}) == len(sentences)
    others = [
        s
        for other in ("", *held_out(name))
        if other != suffix
        for s in load(f"{name}_{other}" if other else name)
    ]
    assert not {s.text for s in sentences} & {s.text for s in others}
    if suffix == "fresh":  # written for this change: not even in another case
        assert not {s.text.casefold() for s in sentences} & {s.text.casefold() for s in others}
    for language in LANGUAGES:
        mine = [s for s in sentences if s.language == language]
        assert any(s.should_prompt for s in mine), language
        if both_kinds:
            assert any(not s.should_prompt for s in mine), language


def test_the_fresh_set_covers_every_category_and_trap() -> None:
    labels = {s.label for s in load("risk_fresh")}
    assert set(CATEGORIES) <= labels
    assert {"no_idiom", "no_media", "no_negation", "no_other", "no_everyday"} <= labels


def test_the_risk_check_takes_under_a_millisecond_on_a_long_draft() -> None:
    """The median of the quietest of five rounds (other processes disturb the rest); the
    draft is the bench's 2,000-character one, harmless so every word is looked at."""
    text = draft()
    assert len(text) == 2_000
    quietest, _, _ = time_check(risk_language, text, runs=100, rounds=5)
    assert quietest < 1.0, f"{quietest:.3f} ms"


def test_every_risk_category_is_in_the_set() -> None:
    labels = {s.label for s in load("risk")}
    assert set(CATEGORIES) <= labels
