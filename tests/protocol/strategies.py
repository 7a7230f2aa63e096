"""Hypothesis strategies built from the frames' own field specs, so every frame is covered."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from protocol.codec import Bool, Bytes, Float, Int, ListOf, Nested, Opt, Spec, Str, Struct


def for_spec(spec: Spec) -> st.SearchStrategy[Any]:
    if isinstance(spec, Bytes):
        if spec.size is not None:
            return st.binary(min_size=spec.size, max_size=spec.size)
        return st.binary(max_size=min(spec.max_len, 300))
    if isinstance(spec, Str):
        if spec.choices:
            return st.sampled_from(sorted(spec.choices))
        return st.text(max_size=min(spec.max_len, 60))
    if isinstance(spec, Int):
        return st.integers(spec.lo, spec.hi)
    if isinstance(spec, Float):
        return st.floats(0.0, 2.0**40, exclude_max=True, allow_nan=False)
    if isinstance(spec, Bool):
        return st.booleans()
    if isinstance(spec, Opt):
        return st.none() | for_spec(spec.inner)
    if isinstance(spec, ListOf):
        return st.lists(for_spec(spec.inner), max_size=min(spec.max_len, 4)).map(tuple)
    if isinstance(spec, Nested):
        return for_struct(spec.cls)
    raise AssertionError(f"no strategy for {spec!r}")


def for_struct(cls: type[Struct]) -> st.SearchStrategy[Any]:
    fields = {f.name: for_spec(f.metadata["spec"]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return st.builds(cls, **fields)
