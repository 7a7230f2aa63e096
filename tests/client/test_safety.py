"""Local safety checks: risk language, oversharing, trigger filter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circle_client.safety import matches_filter, oversharing, risk_categories, risk_language
from circle_client.safety.personal import default_region


@pytest.mark.parametrize(
    "text",
    [
        "some days I just want to die",
        "I think about SUICIDE a lot",
        "thinking about sucide again",  # misspelling
        "i might kms tonight",
        "I've been cutting myself",
        "everyone would be better off without me",
        "I don’t want to live like this",  # curly apostrophe
        "i wanna diiiie",  # stretched letters
        "k1ll mys3lf",  # leetspeak
        "k i l l myself",  # spaced-out letters
        "been unaliving myself in my head all week",  # slang, inflected
    ],
)
def test_risk_language_is_spotted(text: str) -> None:
    assert risk_language(text)


@pytest.mark.parametrize(
    "text",
    [
        "this killed me, so funny",
        "a diet plan",
        "kmsx",
        "my skills at die casting",
        "I ran 10 kms today",
        "I'm not suicidal, just worn out",
        'she said "I want to die" about the exam and laughed',
        "my neighbour says he wants to die, what do I do?",
        "I could kill for a nap",
    ],
)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert not risk_language(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to end my life", "intent"),
        ("I wish I could sleep and never wake up", "passive"),
        ("I swallowed a whole box of tablets", "method"),
        ("I wrote a goodbye letter", "preparation"),
        ("I started cutting again", "self_harm"),
        ("there is no way out", "hopelessness"),
    ],
)
def test_risk_categories(text: str, category: str) -> None:
    assert category in risk_categories(text)


def test_a_phrase_the_host_added_is_spotted_and_only_then() -> None:
    text = "estoy pensando en tirar la toalla con todo"
    assert not risk_language(text)
    assert risk_language(text, extra=("tirar la toalla con todo",))
    assert risk_categories(text, extra=("Tirar la toalla con todo!",)) == {"host"}


def test_host_phrases_are_negated_like_the_others() -> None:
    assert not risk_language("no voy a tirar la toalla", extra=("tirar la toalla",))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("call me on 07700 900123 anytime", "a phone number"),
        ("my number is +44 20 7946 0958", "a phone number"),
        ("ring me on (020) 7946 0958", "a phone number"),
        ("write to sam.jones@example.org", "an e-mail address"),
        ("it's sam dot jones at gmail dot com", "an e-mail address"),
        ("I live at 221B Baker Street now", "a street address"),
        ("near Hauptstraße 12 in town", "a street address"),
        ("postcode SW1A 1AA", "a street address"),
        ("find me at instagram.com/sam_jones", "a link to a personal profile"),
        ("my insta is @sam.jones.91", "a link to a personal profile"),
        ("my name is Sam and I", "your name"),
        ("my SSN is 219-09-9999", "an ID number"),
        ("NI number AB 12 34 56 C", "an ID number"),
        ("mi DNI es 12345678Z", "an ID number"),
    ],
)
def test_oversharing_is_spotted(text: str, kind: str) -> None:
    assert kind in oversharing(text, region="GB")


@pytest.mark.parametrize(
    "text",
    [
        "I felt low for 3 days and slept 10 hours on Sunday",
        "call me crazy, but it helped",
        "@everyone thank you",
        "thanks @quiet-otter",
        "we raised 1 250 000 pounds",
        "I walked 3 kms",
        "the helpline is 0800 111 0 111",  # toll-free: a helpline, not a person
        "my SSN is none of your business",
        "parcel 12345678A arrived",  # a DNI's shape, but the wrong check letter
    ],
)
def test_plain_sharing_is_not_oversharing(text: str) -> None:
    assert oversharing(text, region="GB") == []


def test_national_numbers_are_read_for_the_region() -> None:
    assert "a phone number" in oversharing("llámame 612 34 56 78", region="ES")
    assert oversharing("612 34 56 78", region="ES") == oversharing("612 34 56 78", region="ES")
    assert "a phone number" not in oversharing("the code was 2024 2025", region="GB")


def test_region_comes_from_the_setting_or_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCLE_REGION", "ie")
    assert default_region() == "IE"
    monkeypatch.delenv("CIRCLE_REGION")
    monkeypatch.setenv("LC_ALL", "es_ES.UTF-8")
    assert default_region() == "ES"
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setenv("LANG", "de_AT.UTF-8")
    assert default_region() == "AT"


def test_trigger_filter() -> None:
    assert matches_filter("The funeral was hard", {"funeral"})
    assert matches_filter("Das Begräbnis", {"begrabnis"})
    assert not matches_filter("The fun eral", {"funeral"})
    assert not matches_filter("anything", set())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.lists(st.text(max_size=40), max_size=3))
def test_any_text_gives_an_answer_and_no_error(text: str, phrases: list[str]) -> None:
    assert isinstance(risk_language(text, tuple(phrases)), bool)
    assert all(isinstance(kind, str) for kind in oversharing(text, region="GB"))
    assert isinstance(matches_filter(text, set(phrases)), bool)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("0123456789 +-().@/:,"), max_size=60))
def test_digit_soup_gives_an_answer_and_no_error(chars: list[str]) -> None:
    assert isinstance(oversharing("call me on " + "".join(chars), region="US"), list)
