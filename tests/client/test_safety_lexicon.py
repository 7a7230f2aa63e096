"""The lexicon files, the pattern language and the normalisation they rely on."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from circle_client.safety.lexicon import CATEGORIES, LANGUAGES, PatternCompiler, shipped
from circle_client.safety.text import canonical_tokens, fold, lemma


def test_every_language_ships_every_category_as_package_data() -> None:
    folder = resources.files("circle_client.safety").joinpath("lexicons")
    for language in LANGUAGES:
        table = tomllib.loads(folder.joinpath(f"{language}.toml").read_text(encoding="utf-8"))
        for category in CATEGORIES:
            assert table["categories"][category], (language, category)
        assert table["structure"]["cue"] and table["harm"]["self"], language


def test_the_lexicons_compile() -> None:
    lexicon = shipped()
    assert len(lexicon.rules.exact) > 100
    assert set(lexicon.people) == set(LANGUAGES)


def test_inflections_share_a_lemma() -> None:
    assert {lemma(w) for w in ("kill", "kills", "killed", "killing", "kil")} == {"kil"}
    assert {lemma(w) for w in ("die", "dies", "died", "dying")} == {"di"}


def test_normalisation() -> None:
    assert fold("Ｓｕｉｃｉｄｅ Straße DON’T") == "suicide strasse don't"
    assert canonical_tokens("I don’t") == canonical_tokens("i dont")
    assert canonical_tokens("s.u.i.c.i.d.e") == canonical_tokens("suicide")
    assert canonical_tokens("k1ll") == canonical_tokens("kill")
    assert canonical_tokens("sooooo") == canonical_tokens("so")
    assert canonical_tokens('he said "quoted words" then') == ["he", "said", "#", "then"]
    assert canonical_tokens("3am") == ["3am"]  # a time, not leetspeak


@pytest.mark.parametrize("bad", ["", "... kill", "$ kill", "kill? me", "@nope kill", "ab* me"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        PatternCompiler({}, ()).compile("intent", bad, frozenset())
