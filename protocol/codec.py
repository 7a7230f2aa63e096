"""Field specifications and the limited msgpack decoder shared by frames and sealed content.

Every frame and every piece of sealed content is a frozen dataclass whose fields carry a
:class:`Spec`. Decoding validates each field's type and range and raises only
:class:`~protocol.errors.RemoteProtocolError`; constructing with bad values raises
:class:`~protocol.errors.LocalProtocolError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import msgpack

from protocol import limits
from protocol.errors import (
    ErrorCode,
    FrameTooLarge,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)


class FieldError(Exception):
    """Internal: a field failed validation; turned into Local/RemoteProtocolError."""


class Spec:
    """How one field is checked on the way in and dumped on the way out."""

    def check(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value


class Bytes(Spec):
    def __init__(self, size: int | None = None, max_len: int = limits.MAX_SEALED) -> None:
        self.size = size
        self.max_len = size if size is not None else max_len

    def check(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise FieldError("expected bytes")
        if self.size is not None and len(value) != self.size:
            raise FieldError(f"expected exactly {self.size} bytes")
        if len(value) > self.max_len:
            raise FieldError(f"longer than {self.max_len} bytes")
        return value


class Str(Spec):
    def __init__(self, max_len: int = limits.MAX_STR, choices: Sequence[str] = ()) -> None:
        self.max_len = max_len
        self.choices = frozenset(choices)

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError("expected a string")
        if len(value) > self.max_len:
            raise FieldError(f"longer than {self.max_len} characters")
        if self.choices and value not in self.choices:
            raise FieldError("not one of the allowed values")
        return value


class Utf8(Str):
    """A string limited by its UTF-8 size in bytes, not characters.

    For sealed fields that must fit a padding bucket (PROTOCOL.md 5.5): whatever passes this
    check also pads, so sealing never fails after validation.
    """

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError("expected a string")
        if len(value) * 4 > self.max_len:  # only then can the UTF-8 form be too long
            try:
                size = len(value.encode())
            except UnicodeEncodeError:
                raise FieldError("not encodable as UTF-8") from None
            if size > self.max_len:
                raise FieldError(f"longer than {self.max_len} bytes of UTF-8")
        return value


class Int(Spec):
    def __init__(self, lo: int = 0, hi: int = limits.MAX_SEQ) -> None:
        self.lo, self.hi = lo, hi

    def check(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise FieldError("expected an integer")
        if not self.lo <= value <= self.hi:
            raise FieldError(f"out of range {self.lo}..{self.hi}")
        return value


class Float(Spec):
    """Unix timestamps; finite and non-negative."""

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError("expected a number")
        number = float(value)
        if not 0.0 <= number < 2.0**40:  # also rejects NaN
            raise FieldError("timestamp out of range")
        return number


class Bool(Spec):
    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise FieldError("expected true or false")
        return value


class Opt(Spec):
    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)

    def dump(self, value: Any) -> Any:
        return None if value is None else self.inner.dump(value)


class ListOf(Spec):
    def __init__(self, inner: Spec, max_len: int = limits.MAX_LIST) -> None:
        self.inner, self.max_len = inner, max_len

    def check(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise FieldError("expected a list")
        if len(value) > self.max_len:
            raise FieldError(f"more than {self.max_len} items")
        return tuple(self.inner.check(item) for item in value)

    def dump(self, value: Any) -> Any:
        return [self.inner.dump(item) for item in value]


S = TypeVar("S", bound="Struct")


class Nested(Spec):
    def __init__(self, cls: type[Struct]) -> None:
        self.cls = cls

    def check(self, value: Any) -> Struct:
        if isinstance(value, self.cls):
            return value
        if not isinstance(value, dict):
            raise FieldError("expected a map")
        return self.cls.from_map(value)

    def dump(self, value: Any) -> Any:
        return value.to_map()


def spec(s: Spec, **kwargs: Any) -> Any:
    """Declare a dataclass field with its :class:`Spec`."""
    return dataclasses.field(metadata={"spec": s}, **kwargs)


class Struct:
    """Base of frames and sealed content: a frozen dataclass validated both ways."""

    __slots__ = ()
    _field_cache: ClassVar[tuple[tuple[str, Spec], ...] | None] = None

    @classmethod
    def _fields(cls) -> tuple[tuple[str, Spec], ...]:
        cached: tuple[tuple[str, Spec], ...] | None = cls.__dict__.get("_field_cache")
        if cached is None:
            fields = dataclasses.fields(cls)  # type: ignore[arg-type]
            cached = tuple((f.name, f.metadata["spec"]) for f in fields)
            cls._field_cache = cached
        return cached

    def __post_init__(self) -> None:
        for name, field_spec in self._fields():
            try:
                checked = field_spec.check(getattr(self, name))
            except FieldError as exc:
                raise LocalProtocolError(
                    f"{type(self).__name__}.{name}: {exc}", ErrorCode.BAD_FIELD
                ) from None
            object.__setattr__(self, name, checked)

    @classmethod
    def trusted(cls: type[S], **values: Any) -> S:
        """Build without re-checking: only for values this process made or already validated
        (the server's hot path stamps a validated envelope with its own sender and sequence)."""
        obj = cls.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        return obj

    def to_map(self) -> dict[str, Any]:
        return {name: s.dump(getattr(self, name)) for name, s in self._fields()}

    @classmethod
    def from_map(cls: type[S], data: dict[str, Any], skip: frozenset[str] = frozenset()) -> S:
        """Build from a decoded map; every key must be known and every field present."""
        fields = cls._fields()
        expected = {name for name, _ in fields}
        extra = [k for k in data if not isinstance(k, str) or (k not in expected and k not in skip)]
        if extra:
            raise FieldError("unexpected field")
        values: dict[str, Any] = {}
        for name, field_spec in fields:
            if name not in data:
                raise FieldError(f"missing field {name!r}")
            try:
                values[name] = field_spec.check(data[name])
            except FieldError as exc:
                raise FieldError(f"{name}: {exc}") from None
        obj = cls.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        return obj


def unpack(data: bytes, max_bytes: int = limits.MAX_FRAME_BYTES) -> Any:
    """Decode one msgpack object with hard limits; only RemoteProtocolError escapes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RemoteProtocolError("frame must be binary", ErrorCode.MALFORMED)
    if len(data) > max_bytes:
        raise FrameTooLarge(f"frame of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
            max_array_len=limits.MAX_LIST,
            max_map_len=limits.MAX_MAP,
            max_ext_len=0,
        )
    except (ValueError, TypeError, OverflowError):
        # Every msgpack failure (ExtraData, FormatError, StackError, UnicodeDecodeError,
        # limits) derives from ValueError; details are not echoed to the peer.
        raise RemoteProtocolError("frame is not valid msgpack", ErrorCode.MALFORMED) from None


def pack(obj: Any) -> bytes:
    """Encode with msgpack's defaults (bin type for bytes, str for text)."""
    result: bytes = msgpack.packb(obj, use_bin_type=True)
    return result


def decode_struct(cls: type[S], data: bytes, max_bytes: int = limits.MAX_FRAME_BYTES) -> S:
    """Decode bytes into a Struct of a known class (used for sealed content)."""
    obj = unpack(data, max_bytes)
    if not isinstance(obj, dict) or not all(isinstance(key, str) for key in obj):
        raise RemoteProtocolError("expected a map with string keys", ErrorCode.MALFORMED)
    return wrap_field_errors(lambda: cls.from_map(obj))


T = TypeVar("T")


def wrap_field_errors(build: Callable[[], T]) -> T:
    try:
        return build()
    except FieldError as exc:
        raise RemoteProtocolError(f"invalid field: {exc}", ErrorCode.BAD_FIELD) from None
    except ProtocolError:
        raise
