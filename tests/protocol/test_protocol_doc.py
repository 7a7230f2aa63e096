"""PROTOCOL.md section 3 says exactly what the frame classes check: every frame's table is
rendered from its field specs and must appear in the document as written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from protocol import frames
from protocol.codec import (
    Bool,
    Bytes,
    Float,
    Int,
    ListOf,
    Nested,
    Opt,
    Spec,
    Str,
    Struct,
    Utf8,
)

DOC = (Path(__file__).parents[2] / "PROTOCOL.md").read_text()
NESTED = [
    frames.Envelope,
    frames.Delegation,
    frames.Authority,
    frames.WelcomeBody,
    frames.SealedTo,
    frames.Approval,
    frames.LobbyEntry,
]


def _number(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n >= 2**20 and n & (n - 1) == 0 else str(n)


def describe(spec: Spec) -> str:
    if isinstance(spec, Opt):
        return f"{describe(spec.inner)} or nil"
    if isinstance(spec, Bytes):
        return f"bin[{spec.size}]" if spec.size is not None else f"bin ≤{spec.max_len}"
    if isinstance(spec, Utf8):
        return f"str ≤{spec.max_len} bytes of UTF-8"
    if isinstance(spec, Str):
        if spec.choices:
            return "str: " + "/".join(sorted(spec.choices))
        return f"str ≤{spec.max_len}"
    if isinstance(spec, Int):
        return f"int {_number(spec.lo)}..{_number(spec.hi)}"
    if isinstance(spec, Float):
        return "float (unix time)"
    if isinstance(spec, Bool):
        return "bool"
    if isinstance(spec, ListOf):
        return f"array ≤{spec.max_len} of {describe(spec.inner)}"
    if isinstance(spec, Nested):
        return spec.cls.__name__
    raise AssertionError(f"no description for {spec!r}")


def table(cls: type[Struct]) -> str:
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not fields:
        return "No fields."
    rows = ["| field | type |", "|---|---|"]
    rows += [f"| `{f.name}` | {describe(f.metadata['spec'])} |" for f in fields]
    return "\n".join(rows)


@pytest.mark.parametrize("cls", list(frames.FRAME_TYPES.values()), ids=lambda c: c.TYPE)
def test_every_frame_is_documented_as_the_code_checks_it(cls: type[frames.Frame]) -> None:
    heading = f"#### `{cls.TYPE}`\n"
    assert heading in DOC, f"PROTOCOL.md has no section for {cls.TYPE}"
    section = DOC.split(heading, 1)[1].split("\n####", 1)[0]
    assert table(cls) in section, f"PROTOCOL.md's table for {cls.TYPE} is out of date"


@pytest.mark.parametrize("cls", NESTED, ids=lambda c: c.__name__)
def test_every_nested_structure_is_documented(cls: type[Struct]) -> None:
    heading = f"#### {cls.__name__}\n"
    assert heading in DOC
    section = DOC.split(heading, 1)[1].split("\n####", 1)[0]
    assert table(cls) in section, f"PROTOCOL.md's table for {cls.__name__} is out of date"


def test_the_document_names_the_protocol_version() -> None:
    assert DOC.startswith(f"# Circle protocol, version {frames.limits.PROTOCOL_VERSION}\n")
