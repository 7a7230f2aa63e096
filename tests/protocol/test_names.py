"""Handles that cannot impersonate (S3, F3): one alphabet, TS #39 skeletons."""

from __future__ import annotations

import pytest

from circle_client.handles import check_handle
from protocol.names import handle_problem, looks_like, normalise_handle, skeleton


@pytest.mark.parametrize(
    ("handle", "why"),
    [
        ("quiet-otter\u200b", "hidden"),  # zero-width space
        ("quiet\u2060otter", "hidden"),  # word joiner
        ("quiet otter", "hidden"),
        ("quiet-\u043etter", "letters a-z"),  # Cyrillic o
        ("quiet-\u03bftter", "letters a-z"),  # Greek omicron
        ("q", "3-32"),
        ("-quiet", "3-32"),
    ],
)
def test_handles_with_hidden_or_foreign_characters_are_refused_with_a_reason(
    handle: str, why: str
) -> None:
    problem = handle_problem(normalise_handle(handle))
    assert problem is not None and why in problem
    assert check_handle(handle) == problem


def test_nfkc_and_case_folding_come_first() -> None:
    assert normalise_handle("Quiet-Otter") == "quiet-otter"
    assert normalise_handle("\uff51uiet-otter") == "quiet-otter"  # fullwidth q
    assert check_handle("Quiet-Otter") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("quiet-otter", "quiet-0tter"),
        ("mellow-owl", "rnellow-owl"),
        ("wren", "vvren"),
        ("dove-1", "dove-l"),
        ("ducky", "clucky"),
    ],
)
def test_look_alikes_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b) and looks_like(b, [a])


def test_different_handles_do_not_look_alike() -> None:
    assert not looks_like("quiet-otter", ["quiet-otters", "quite-otter", "calm-heron"])
