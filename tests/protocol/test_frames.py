"""Frames: round-trips for every type, strict validation, and a decoder that only raises
documented errors, however hostile the bytes (S9)."""

from __future__ import annotations

import inspect

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import frames, limits
from protocol.errors import (
    ErrorCode,
    FrameTooLarge,
    LocalProtocolError,
    RemoteProtocolError,
)
from protocol.frames import (
    FRAME_TYPES,
    Envelope,
    Error,
    Frame,
    Hello,
    Post,
    Relayed,
    decode_frame,
    encode_frame,
)

from .strategies import for_struct

ALL_FRAMES = st.one_of([for_struct(cls) for cls in FRAME_TYPES.values()])


def test_every_frame_type_is_registered_once() -> None:
    assert len(FRAME_TYPES) == len({cls.TYPE for cls in FRAME_TYPES.values()}) >= 30
    assert all(name == cls.TYPE for name, cls in FRAME_TYPES.items())


def test_every_concrete_frame_class_is_registered() -> None:
    """So the per-type round-trip below really covers every frame in protocol/frames.py."""
    concrete = {
        cls
        for _, cls in inspect.getmembers(frames, inspect.isclass)
        if issubclass(cls, Frame) and cls.TYPE
    }
    assert concrete == set(FRAME_TYPES.values())


@pytest.mark.parametrize("frame_type", sorted(FRAME_TYPES))
@settings(max_examples=25)
@given(data=st.data())
def test_every_frame_type_round_trips(frame_type: str, data: st.DataObject) -> None:
    """Each frame class with its own strategy, so none can be starved by a mixed draw."""
    cls = FRAME_TYPES[frame_type]
    frame = data.draw(for_struct(cls))
    assert type(frame) is cls
    encoded = encode_frame(frame)
    decoded = decode_frame(encoded)
    assert type(decoded) is cls
    assert decoded == frame
    assert encode_frame(decoded) == encoded


@settings(max_examples=200)
@given(ALL_FRAMES)
def test_mixed_frames_round_trip(frame) -> None:  # type: ignore[no-untyped-def]
    data = encode_frame(frame)
    assert decode_frame(data) == frame
    assert encode_frame(decode_frame(data)) == data


@settings(max_examples=1000)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_documented_errors(data: bytes) -> None:
    try:
        decode_frame(data)
    except RemoteProtocolError as exc:
        assert exc.code in ErrorCode


@settings(max_examples=500)
@given(
    st.dictionaries(
        st.sampled_from(["t", "version", "env", "code", "message", "ref", "circle", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**64 - 1)
            | st.floats()
            | st.text(max_size=8)
            | st.binary(max_size=40),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    ),
    st.sampled_from(sorted(FRAME_TYPES)),
)
def test_wrong_field_types_raise_only_documented_errors(data: dict, frame_type: str) -> None:  # type: ignore[type-arg]
    data = {**data, "t": frame_type}
    try:
        decode_frame(msgpack.packb(data))
    except RemoteProtocolError as exc:
        assert exc.code in ErrorCode


def _decode_code(data: bytes) -> ErrorCode:
    with pytest.raises(RemoteProtocolError) as info:
        decode_frame(data)
    return info.value.code


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("huge array header", b"\xdd\xff\xff\xff\xff"),
        ("huge map header", b"\xdf\xff\xff\xff\xff"),
        ("huge bin header", b"\xc6\xff\xff\xff\xff"),
        ("huge str header", b"\xdb\xff\xff\xff\xff"),
        ("nesting depth 2000", b"\x91" * 2000 + b"\xc0"),
        ("ext type", msgpack.packb({"t": "hello", "version": msgpack.ExtType(5, b"x")})),
        ("timestamp ext", msgpack.packb({"t": "hello", "version": msgpack.Timestamp(1)})),
        ("integer key", msgpack.packb({1: "hello"})),
        ("binary key", msgpack.packb({b"t": "hello", b"version": 1})),
        ("invalid utf-8", b"\x81\xa1t\xa2\xff\xfe"),
        ("trailing bytes", encode_frame(Hello(version=limits.PROTOCOL_VERSION)) + b"\x00"),
        ("truncated", encode_frame(Hello(version=limits.PROTOCOL_VERSION))[:-1]),
        ("not a map", msgpack.packb(["hello", 1])),
        ("reserved byte", b"\xc1"),
        ("empty", b""),
    ],
)
def test_msgpack_bombs_are_rejected(name: str, data: bytes) -> None:
    """Refused with a documented code (the limits stop them before they allocate; nothing is
    timed here, CI machines are noisy)."""
    code = _decode_code(data)
    assert code in (ErrorCode.MALFORMED, ErrorCode.BAD_FIELD), name


def test_oversized_frame_is_rejected_before_parsing() -> None:
    data = msgpack.packb({"t": "hello", "version": 1, "pad": b"x" * limits.MAX_FRAME_BYTES})
    with pytest.raises(FrameTooLarge) as info:
        decode_frame(data)
    assert info.value.code == ErrorCode.TOO_LARGE
    assert decode_frame(
        encode_frame(Hello(version=limits.PROTOCOL_VERSION)), max_bytes=64
    ) == Hello(version=limits.PROTOCOL_VERSION)
    with pytest.raises(FrameTooLarge):
        decode_frame(encode_frame(Hello(version=limits.PROTOCOL_VERSION)), max_bytes=4)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"t": "nope"}, ErrorCode.UNKNOWN_FRAME),
        ({"t": 5}, ErrorCode.UNKNOWN_FRAME),
        ({"version": 1}, ErrorCode.UNKNOWN_FRAME),
        ({"t": "hello"}, ErrorCode.BAD_FIELD),
        ({"t": "hello", "version": "1"}, ErrorCode.BAD_FIELD),
        ({"t": "hello", "version": True}, ErrorCode.BAD_FIELD),
        ({"t": "hello", "version": -1}, ErrorCode.BAD_FIELD),
        ({"t": "hello", "version": 1, "extra": 1}, ErrorCode.BAD_FIELD),
        ({"t": "error", "code": 1000, "message": "x" * 501, "ref": None}, ErrorCode.BAD_FIELD),
        ({"t": "closed", "reason": "because"}, ErrorCode.BAD_FIELD),
    ],
)
def test_field_validation(data: dict, code: ErrorCode) -> None:  # type: ignore[type-arg]
    assert _decode_code(msgpack.packb(data)) == code


def test_nested_envelope_is_validated() -> None:
    env = Envelope(epoch=1, seq=1, nonce=b"n" * 24, ct=b"c" * 32, sig=b"s" * 64)
    good = encode_frame(Post(env=env))
    assert decode_frame(good) == Post(env=env)
    bad = msgpack.packb({"t": "post", "env": {**env.to_map(), "nonce": b"short"}})
    assert _decode_code(bad) == ErrorCode.BAD_FIELD
    bad = msgpack.packb({"t": "post", "env": [1, 2, 3]})
    assert _decode_code(bad) == ErrorCode.BAD_FIELD


def test_constructing_a_bad_frame_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        Hello(version=-5)
    with pytest.raises(LocalProtocolError):
        Relayed(
            kind="shout",
            sender=1,
            rseq=1,
            env=Envelope(epoch=0, seq=1, nonce=b"n" * 24, ct=b"", sig=b"s" * 64),
        )
    with pytest.raises(LocalProtocolError):
        Error(code=1, message="x", ref=None)


def test_lists_decode_as_tuples_so_frames_stay_hashable_and_frozen() -> None:
    from protocol.frames import Moderate

    frame = Moderate(
        action="round_start",
        target=None,
        minutes=None,
        seconds=None,
        order=(3, 1, 2),
        note=None,
        key=None,
        cert=None,
        seq=1,
        signer=b"k" * 32,
        sig=b"s" * 64,
    )
    decoded = decode_frame(encode_frame(frame))
    assert decoded == frame and isinstance(decoded.order, tuple)  # type: ignore[attr-defined]


def test_agenda_phases_are_moderation_and_notice_actions() -> None:
    from protocol.frames import (
        MODERATION_ACTIONS,
        NOTICE_ACTIONS,
        PHASES,
        Moderate,
        Notice,
        action_phase,
        phase_action,
    )

    assert PHASES == ("check-in", "sharing", "check-out")
    for phase in (*PHASES, None):
        action = phase_action(phase)
        assert action in MODERATION_ACTIONS and action in NOTICE_ACTIONS
        assert action_phase(action) == phase
        notice = Notice(
            action=action,
            target=None,
            minutes=None,
            seconds=None,
            order=(),
            note=None,
            cert=None,
            rseq=0,
        )
        assert decode_frame(encode_frame(notice)) == notice
    assert phase_action(None) == "phase:none"
    for wrong in ("none", "lunch", "Sharing", ""):
        with pytest.raises(LocalProtocolError):
            phase_action(wrong)
    with pytest.raises(ValueError):
        action_phase("lock")
    moderate = {
        "t": "moderate",
        "action": "phase:lunch",
        "target": None,
        "minutes": None,
        "seconds": None,
        "order": [],
        "note": None,
        "key": None,
        "cert": None,
        "seq": 1,
        "signer": b"k" * 32,
        "sig": b"s" * 64,
    }
    assert _decode_code(msgpack.packb(moderate)) == ErrorCode.BAD_FIELD
    decoded = decode_frame(msgpack.packb({**moderate, "action": "phase:check-out"}))
    assert isinstance(decoded, Moderate) and decoded.action == "phase:check-out"
