"""The safety checks against their evaluation sets (tests/client/safety_eval/*.tsv).

The bounds hold on the main sets, which the lexicons were tuned on (batch by batch, each
measured first); the unseen sets, never tuned on, are measured by ``python -m bench.safety``
and reported in README.md, not held to a bound here.
"""

from __future__ import annotations

import pytest

from bench.safety import evaluate, load
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


@pytest.mark.parametrize("name", ["risk", "oversharing"])
def test_the_unseen_sets_have_both_kinds_in_every_language(name: str) -> None:
    sentences = load(f"{name}_unseen")
    assert len(sentences) >= 20
    assert not {s.text for s in sentences} & {s.text for s in load(name)}
    for language in LANGUAGES:
        assert any(s.language == language and s.should_prompt for s in sentences), language


def test_every_risk_category_is_in_the_set() -> None:
    labels = {s.label for s in load("risk")}
    assert set(CATEGORIES) <= labels
