"""Check-out moods, concerns and private warnings through the real registry: they arrive, and
their sealed sizes do not give away the mood or the exact length of a note (S1)."""

from __future__ import annotations

import pytest

from circle_client import events as ev
from protocol import limits
from protocol.content import MOODS
from protocol.errors import LocalProtocolError
from protocol.frames import CheckoutNotice, ConcernNotice, Notice
from tests.pair import Net


def test_every_check_out_mood_arrives_at_one_size() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    members = [net.join(fac, f"member-{i}", address=f"10.0.0.{i + 2}") for i in range(len(MOODS))]
    for member, mood in zip(members, MOODS, strict=True):
        member.session.leave(mood)
        net.pump()
    notices = [f for f in fac.frames if isinstance(f, CheckoutNotice)]
    assert len(notices) == len(MOODS)
    assert len({len(n.sealed) for n in notices}) == 1
    assert sorted(e.mood for e in fac.of(ev.CheckedOut)) == sorted(MOODS)


def test_concerns_pad_to_a_bucket_and_arrive() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    notes = ["hm", "x" * 150, "y" * limits.MAX_CONCERN_CHARS]  # the registry allows three
    for note in notes:
        a.session.concern(None, note)
        net.pump()
    sizes = [len(f.sealed) for f in fac.frames if isinstance(f, ConcernNotice)]
    assert sizes[0] == sizes[1] < sizes[2] <= limits.MAX_SEALED_TO
    assert [e.note for e in fac.of(ev.ConcernReceived)] == notes
    with pytest.raises(LocalProtocolError):
        a.session.concern(None, "\U0001f600" * 300)  # 300 characters, 1,200 bytes


def test_private_warnings_pad_to_a_bucket_and_arrive() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    texts = ["please be gentle", "please be gentle with each other here, thank you"]
    longest = "w" * limits.MAX_WARNING_BYTES
    for text in (*texts, longest):
        fac.session.moderate("warn", target=a.session.member, note=text)
        net.pump()
    sizes = [
        len(f.signed.note)
        for f in a.frames
        if isinstance(f, Notice) and f.signed is not None and f.signed.note is not None
    ]
    assert sizes[0] == sizes[1] < sizes[2] == limits.MAX_NOTE
    assert [e.text for e in a.of(ev.PrivateWarning)] == [*texts, longest]
    with pytest.raises(LocalProtocolError):
        fac.session.moderate("warn", target=a.session.member, note=longest + "w")
