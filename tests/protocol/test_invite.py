"""Invites: round-trips, and errors that tell a user what to do next."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InviteError
from protocol.invite import Invite, parse_server_url


def make(url: str = "ws://127.0.0.1:8765") -> Invite:
    return Invite.create(url, b"f" * 16)


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8765",
        "wss://circle.example.org",
        "ws://[::1]:9000",
        "wss://Host.Example:444/",
    ],
)
def test_round_trip(url: str) -> None:
    invite = make(url)
    assert Invite.parse(str(invite)) == invite
    assert Invite.parse(str(invite)).server_url.startswith(
        "wss://" if url.startswith("wss") else "ws://"
    )


def test_whitespace_and_line_breaks_from_pasting_are_ignored() -> None:
    invite = make()
    text = str(invite)
    assert Invite.parse(f"  {text[:20]}\n{text[20:]} \n") == invite


def test_secret_never_in_repr() -> None:
    invite = make()
    assert invite.secret.hex() not in repr(invite)
    assert "#" not in repr(invite)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: "", "empty"),
        (lambda s: s.replace("circle://", "https://"), "should start with circle://"),
        (lambda s: s.split("#")[0], "missing its secret part"),
        (lambda s: s[:-5], "cut off"),
        (lambda s: s + "AAAA", "cut off"),
        (lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"), "typo"),
        (lambda s: s.replace("#", "#!"), "characters that do not belong"),
        (lambda s: s.replace("127.0.0.1:8765", "127.0.0.1:99999"), "server address"),
        (lambda s: s.replace("8765/", "8765"), "circle id"),
    ],
)
def test_errors_say_what_to_do(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InviteError, match=message):
        Invite.parse(mangle(str(make())))


def test_pointing_invite_at_another_server_breaks_the_check() -> None:
    text = str(make()).replace("127.0.0.1", "127.0.0.2")
    with pytest.raises(InviteError, match="typo"):
        Invite.parse(text)


@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_invite_error(text: str) -> None:
    try:
        Invite.parse(text)
    except InviteError as exc:
        assert str(exc).endswith(".")


def test_server_url_parsing() -> None:
    assert parse_server_url("ws://localhost:8765") == ("localhost", 8765, False)
    assert parse_server_url("wss://example.org") == ("example.org", 443, True)
    with pytest.raises(InviteError, match="ws:// or wss://"):
        parse_server_url("http://example.org")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("wss://circle.example.org/circle", "/circle"),
        ("wss://circle.example.org/some/prefix/", "/some/prefix"),
        ("ws://127.0.0.1:8765/a.b_c~d", "/a.b_c~d"),
        ("ws://[::1]:9000/", "/"),
    ],
)
def test_an_invite_carries_the_path_prefix(url: str, path: str) -> None:
    invite = make(url)
    text = str(invite)
    assert invite.path == path
    assert Invite.parse(text) == invite
    assert Invite.parse(text).server_url.endswith(path)
    assert text.split("#")[0].rsplit("/", 1)[0].endswith(path.rstrip("/") or ":9000")


def test_a_prefix_is_covered_by_the_check() -> None:
    text = str(make("wss://circle.example.org/circle"))
    moved = text.replace("/circle/", "/elsewhere/")
    with pytest.raises(InviteError, match="typo"):
        Invite.parse(moved)
    with pytest.raises(InviteError, match="typo"):
        Invite.parse(text.replace("/circle/", "/"))


def test_an_invite_without_a_prefix_is_unchanged() -> None:
    invite = make("wss://circle.example.org")
    assert invite.path == "/"
    assert str(invite).count("/") == 3
    assert invite.server_url == "wss://circle.example.org:443/"


@pytest.mark.parametrize("bad", ["/a/../b", "/a//b", "/a%20b", "/a b", "/./x"])
def test_a_bad_path_is_refused(bad: str) -> None:
    text = str(make()).replace(":8765/", f":8765{bad}/", 1)
    with pytest.raises(InviteError):
        Invite.parse(text)
