"""Frames held during a Redis outage: in order, bounded per connection and per node."""

from __future__ import annotations

from circle_server.held import Held


def test_frames_come_back_in_order_and_the_member_is_told_once() -> None:
    held = Held()
    assert held.hold(1, b"a", 0.0) is True
    assert held.hold(1, b"b", 0.0) is False
    assert held.hold(2, b"c", 0.0) is True
    frames, overflowed = held.release()
    assert frames == [(1, [(b"a", 0.0), (b"b", 0.0)]), (2, [(b"c", 0.0)])]
    assert not overflowed
    assert held.held_bytes == 0 and held.release() == ([], set())


def test_a_connection_over_its_share_resumes_instead_and_frees_its_bytes() -> None:
    held = Held(per_connection=4, total=100)
    held.hold(1, b"abc", 0.0)
    held.hold(2, b"x", 0.0)
    assert held.hold(1, b"de", 0.0) is False  # 5 bytes > 4: dropped, not told again
    assert held.held_bytes == 1
    assert held.hold(1, b"f", 0.0) is False  # still overflowed: nothing more is kept
    frames, overflowed = held.release()
    assert frames == [(2, [(b"x", 0.0)])] and overflowed == {1}


def test_the_node_total_bounds_everyone() -> None:
    held = Held(per_connection=10, total=6)
    held.hold(1, b"abcd", 0.0)
    assert held.hold(2, b"efg", 0.0) is False  # 7 > 6: the newcomer overflows: it resumes
    frames, overflowed = held.release()
    assert frames == [(1, [(b"abcd", 0.0)])] and overflowed == {2}


def test_a_connection_that_goes_is_forgotten() -> None:
    held = Held()
    held.hold(1, b"abc", 0.0)
    held.drop(1)
    assert held.held_bytes == 0 and held.release() == ([], set())
