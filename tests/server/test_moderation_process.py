"""Facilitation through a real circle-server process and real clients (F6, F9, F17).

The registry tests check each rule with a fake clock; these check that the rules hold end to
end: signed by one client, enforced by the server process, seen by the others.
"""

from __future__ import annotations

from circle_client import events as ev
from circle_client.client import FINAL_CLOSE, CircleClient
from protocol.errors import ErrorCode
from tests.conftest import ServerProcess, start_server
from tests.support.clients import HANDLES, join, next_message, open_circle, settle


async def seated(url: str, n: int, **kwargs: object) -> tuple[CircleClient, list[CircleClient]]:
    """A facilitator and ``n`` admitted members who all hold the current epoch."""
    fac, invite = await open_circle(url, auto_admit=True, **kwargs)
    members = [await join(url, fac, invite, HANDLES[1 + i]) for i in range(n)]
    await settle((fac, *members))
    return fac, members


async def refused_join(url: str, invite: str) -> ev.ErrorReceived:
    """Try to join with fresh keys; return the server's refusal."""
    newcomer = CircleClient(url)
    await newcomer.connect()
    await newcomer.send_join(invite)
    error: ev.ErrorReceived = await newcomer.next_event(ev.ErrorReceived)
    await newcomer.close()
    return error


async def next_notice(client: CircleClient, action: str) -> ev.NoticeReceived:
    """The next notice of ``action``, skipping others (joins, rekeys) queued before it."""
    while True:
        notice: ev.NoticeReceived = await client.next_event(ev.NoticeReceived)
        if notice.action == action:
            return notice


async def close_all(*clients: CircleClient) -> None:
    for client in clients:
        await client.close()


async def test_private_warning_reaches_only_the_target(server: ServerProcess) -> None:
    fac, (a, b) = await seated(server.url, 2)
    await fac.moderate("warn", target=a.session.member, note="Please no advice.")
    assert (await a.next_event(ev.PrivateWarning)).text == "Please no advice."
    delivered: ev.WarningDelivered = await fac.next_event(ev.WarningDelivered)
    assert delivered.target == a.session.member
    await fac.post("marker")  # a warning sent to b as well would arrive before this
    seen = await events_until(b, "marker")
    assert not [e for e in seen if isinstance(e, ev.PrivateWarning)]
    await close_all(fac, a, b)


async def test_ban_closes_with_4003_and_keeps_fresh_keys_from_that_address_out(
    server: ServerProcess,
) -> None:
    fac, (a, b) = await seated(server.url, 2)
    invite, banned = str(fac.session.invite), b.session.member
    await fac.moderate("ban", target=banned)
    gone = await b.next_event(ev.Disconnected)
    assert gone.reason == FINAL_CLOSE[4003]
    assert (await next_notice(a, "ban")).target == banned
    # Same address (every test client is 127.0.0.1), brand-new keys: still banned.
    error = await refused_join(server.url, invite)
    assert error.code == ErrorCode.BANNED
    await close_all(fac, a)


async def test_lock_refuses_joiners_until_unlocked(server: ServerProcess) -> None:
    fac, (a,) = await seated(server.url, 1)
    invite = str(fac.session.invite)
    await fac.moderate("lock")
    await next_notice(a, "lock")
    error = await refused_join(server.url, invite)
    assert error.code == ErrorCode.CIRCLE_LOCKED
    await fac.moderate("unlock")
    await next_notice(a, "unlock")
    late = await join(server.url, fac, invite, HANDLES[3])
    await close_all(fac, a, late)


async def test_slow_mode_refuses_a_second_post(server: ServerProcess) -> None:
    fac, (a,) = await seated(server.url, 1)
    await fac.moderate("slow", seconds=60)
    assert (await next_notice(a, "slow")).text == "Slow mode: one message every 60 s"
    await a.post("first")
    await a.post("too soon")
    error = await a.next_event(ev.ErrorReceived)
    assert error.code == ErrorCode.SLOW_MODE and "Slow mode" in error.message
    await next_message(fac, "first")
    await fac.post("facilitators are not slowed")
    await next_message(a, "facilitators are not slowed")
    await close_all(fac, a)


async def test_co_facilitator_moderation_is_accepted(server: ServerProcess) -> None:
    fac, (a, b) = await seated(server.url, 2)
    await fac.moderate("delegate", target=a.session.member)
    while a.session.role() != "co":
        await a.next_event(ev.RosterChanged)
    await a.moderate("mute", target=b.session.member, minutes=3)
    muted = await next_notice(fac, "mute")
    assert muted.target == b.session.member and muted.text == f"{HANDLES[2]} was muted for 3 min"
    await b.post("can I still talk")
    assert (await b.next_event(ev.ErrorReceived)).code == ErrorCode.MUTED
    await close_all(fac, a, b)


async def test_go_around_refuses_out_of_turn_posts_but_not_the_facilitator(
    server: ServerProcess,
) -> None:
    fac, (a, b) = await seated(server.url, 2)
    order = (a.session.member, b.session.member)
    await fac.moderate("round_start", order=order)
    while (await b.next_event(ev.RoundChanged)).speaker != a.session.member:
        pass
    await b.post("me first")
    error = await b.next_event(ev.ErrorReceived)
    assert error.code == ErrorCode.NOT_YOUR_TURN
    await fac.post("the facilitator may speak")
    await a.post("my share")
    assert (await next_message(b, "the facilitator may speak")).handle == HANDLES[0]
    assert (await next_message(b, "my share")).handle == HANDLES[1]
    await close_all(fac, a, b)


async def test_decline_closes_the_joiner_with_4004(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url)
    joiner = CircleClient(server.url)
    await joiner.connect()
    await joiner.join(invite)
    await joiner.knock(HANDLES[1])
    knock = await fac.next_event(ev.KnockReceived)
    await fac.decline(knock.member)
    await joiner.next_event(ev.Declined)
    gone = await joiner.next_event(ev.Disconnected)
    assert gone.reason == FINAL_CLOSE[4004]
    await close_all(fac, joiner)


async def test_without_a_facilitator_admissions_pause_then_the_circle_closes() -> None:
    proc = start_server(env={"CIRCLE_FACILITATOR_GRACE": "3"})
    try:
        fac, (a,) = await seated(proc.url, 1)
        invite = str(fac.session.invite)
        await fac.abort(leave=False)  # the facilitator's network goes away
        await next_notice(a, "paused")
        error = await refused_join(proc.url, invite)
        assert error.code == ErrorCode.ADMISSIONS_PAUSED
        assert error.message == "No facilitator is here right now; try again in a few minutes."
        closed = await a.next_event(ev.CircleClosed, timeout=10)
        assert closed.reason == "no_facilitator"
        await a.close()
    finally:
        proc.stop()


async def events_until(client: CircleClient, body: str) -> list[ev.Event]:
    """Every event up to and including the message with ``body``."""
    seen: list[ev.Event] = []
    while True:
        event = await client.next_event()
        seen.append(event)
        if isinstance(event, ev.MessageReceived) and event.content.body == body:
            return seen
