"""Wipe means wipe (F5, S7, S11): after a circle ends, is left, or the member is removed, no
object a client session still reaches holds key material."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from circle_client import events as ev
from circle_client.session import Session
from tests.pair import Net, Peer


def secrets_of(session: Session) -> set[bytes]:
    """Every secret a session holds while it is in a circle."""
    assert session.keys is not None and session.invite is not None and session.circle
    found = {session.keys.sign.seed, session.keys.box.secret, session.invite.secret}
    if session.secrets is not None:
        found |= {
            session.secrets.admission.seed,
            session.secrets.knock_key,
            session.secrets.info_key,
        }
    found |= set(session.circle.secret_material())
    assert len(found) > 8  # member keys, invite, admission, epoch secrets, own epoch keys
    return found


def reachable(root: object) -> list[bytes]:
    """Every bytes object reachable from ``root`` through attributes and containers."""
    seen: set[int] = set()
    todo: deque[Any] = deque([root])
    out: list[bytes] = []
    while todo:
        obj = todo.popleft()
        if id(obj) in seen or obj is None or isinstance(obj, int | float | str | bool | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes | bytearray | memoryview):
            out.append(bytes(obj))
        elif isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            todo.extend(obj)
        elif callable(obj):
            continue  # the injected rng and clock
        else:
            todo.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if hasattr(obj, slot):
                        todo.append(getattr(obj, slot))
    return out


def assert_wiped(peer: Peer, secrets: set[bytes]) -> None:
    assert peer.session.closed
    for blob in reachable(peer.session):
        for secret in secrets:
            assert secret not in blob, "a secret survived the wipe"


def busy_circle() -> tuple[Net, Peer, Peer, Peer]:
    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    b = net.join(fac, "gentle-lynx", address="10.0.0.3")
    a.session.post("something hard to say")
    b.session.concern(None, "worried about a")
    fac.session.moderate("warn", target=b.session.member, note="gently, please")
    net.pump()
    assert fac.of(ev.ConcernReceived) and b.of(ev.PrivateWarning)
    return net, fac, a, b


def test_nothing_secret_is_left_after_the_circle_closes() -> None:
    net, fac, a, b = busy_circle()
    held = {p.conn: secrets_of(p.session) for p in (fac, a, b)}
    assert all(len(s) >= 4 for s in held.values())
    fac.session.moderate("close")
    net.pump()
    for peer in (fac, a, b):
        assert_wiped(peer, held[peer.conn])


def test_nothing_secret_is_left_after_leaving_or_removal() -> None:
    net, fac, a, b = busy_circle()
    a_secrets, b_secrets = secrets_of(a.session), secrets_of(b.session)
    a.session.leave("okay")
    fac.session.moderate("remove", target=b.session.member)
    net.pump()
    assert b.closed is not None and b.session.closed
    assert_wiped(a, a_secrets)
    assert_wiped(b, b_secrets)


def test_the_walk_finds_a_secret_that_is_still_there() -> None:
    """The check itself can fail: an unwiped session is caught."""
    net, fac, a, b = busy_circle()
    assert a.session.keys is not None
    assert a.session.keys.sign.seed in reachable(a.session)


def test_key_bearing_objects_print_no_key() -> None:
    net, fac, a, b = busy_circle()
    circle = a.session.circle
    assert circle is not None and a.session.keys and fac.session.lead is not None
    lead = fac.session.lead.circle
    assert lead.roster_content is not None
    roster = dataclasses.replace(
        lead.roster_content,
        version=lead.roster_version + 1,
        epoch=lead.epoch + 1,
        prev=lead.transcript_hash,
    )
    prepared = lead.prepare_commit(roster, ())
    printed = repr(circle) + repr(a.session.keys) + repr(a.session.secrets) + repr(prepared)
    printed += "".join(repr(pair) for pair in circle._own_keys.values())
    secrets = [a.session.keys.sign.seed, a.session.keys.box.secret, prepared.joiner]
    secrets += [prepared.epoch_key, *circle.secret_material()]
    for secret in secrets:
        assert secret.hex() not in printed and repr(secret) not in printed
