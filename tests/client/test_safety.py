"""Local safety checks: risk language, oversharing, trigger filter."""

from __future__ import annotations

import pytest

from circle_client.safety import matches_filter, oversharing, risk_language


@pytest.mark.parametrize(
    "text",
    [
        "some days I just want to die",
        "I think about SUICIDE a lot",
        "thinking about sucide again",  # misspelling
        "i might kms tonight",
        "I've been cutting myself",
        "everyone would be better off without me",
        "I don’t want to live like this",
    ],
)
def test_risk_language_is_spotted(text: str) -> None:
    assert risk_language(text)


@pytest.mark.parametrize(
    "text",
    ["this killed me, so funny", "a diet plan", "kmsx", "my skills at die casting"],
)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert not risk_language(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("call me on 07700 900123 anytime", "a phone number"),
        ("my number is +44 20 7946 0958", "a phone number"),
        ("write to sam.jones@example.org", "an e-mail address"),
        ("I live at 221B Baker Street now", "a street address"),
        ("near Hauptstraße 12 in town", "a street address"),
        ("postcode SW1A 1AA", "a street address"),
        ("find me at instagram.com/sam_jones", "a link to a personal profile"),
        ("my name is Sam and I", "your name"),
    ],
)
def test_oversharing_is_spotted(text: str, kind: str) -> None:
    assert kind in oversharing(text)


def test_plain_sharing_is_not_oversharing() -> None:
    assert oversharing("I felt low for 3 days and slept 10 hours on Sunday") == []


def test_trigger_filter() -> None:
    assert matches_filter("The funeral was hard", {"funeral"})
    assert not matches_filter("The fun eral", {"funeral"})
    assert not matches_filter("anything", set())
