"""Nothing sent around a dropped connection is lost or shown twice (S6, resume).

Frames that never reached the server go out again after the resume; frames that did get
through are dropped by receivers as exact replays.
"""

from __future__ import annotations

import asyncio

from circle_client import events as ev
from circle_client.client import CircleClient
from protocol.frames import Frame, decode_frame, encode_frame
from tests.conftest import ServerProcess
from tests.pair import Net, Peer
from tests.support.clients import BODIES, HANDLES, join, next_message, open_circle, settle


def bodies(peer: Peer) -> list[str]:
    return [m.content.body for m in peer.of(ev.MessageReceived)]


def queued_bodies(client: CircleClient) -> list[str]:
    """Messages already waiting in a client's event queue (without waiting for more)."""
    found = []
    while not client.events.empty():
        event = client.events.get_nowait()
        if isinstance(event, ev.MessageReceived):
            found.append(event.content.body)
    return found


async def test_post_while_the_connection_drops_arrives_once(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    member = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    await member.drop_connection()
    await member.post(BODIES[0])  # written to a socket that is already gone
    await member.next_event(ev.Resumed)
    assert (await next_message(fac, BODIES[0])).handle == HANDLES[1]
    mine = await next_message(member, BODIES[0])
    assert mine.mine
    await member.post(BODIES[1])
    # Delivery is in order: a second copy of the first post would come before this one.
    assert (await fac.next_event(ev.MessageReceived)).content.body == BODIES[1]
    assert (await member.next_event(ev.MessageReceived)).content.body == BODIES[1]
    assert queued_bodies(fac) == [] and queued_bodies(member) == []
    await member.close()
    await fac.close()


async def test_posts_during_backoff_go_out_after_the_resume(server: ServerProcess) -> None:
    fac, invite = await open_circle(server.url, auto_admit=True)
    member = await join(server.url, fac, invite, HANDLES[1])
    await settle((fac, member))
    await member.drop_connection()
    await member.next_event(ev.Reconnecting)
    first = await member.post(BODIES[0])
    second = await member.post(BODIES[1])
    assert second[2] == first[2] + 1
    await member.next_event(ev.Resumed)
    got = [await fac.next_event(ev.MessageReceived) for _ in range(2)]
    assert [m.content.body for m in got] == list(BODIES)
    await asyncio.wait_for(fac.post("both arrived"), 5)
    assert (await fac.next_event(ev.MessageReceived)).content.body == "both arrived"
    assert queued_bodies(fac) == []
    await member.close()
    await fac.close()


# -- the same, frame by frame, without sockets -----------------------------------------------


def lose_replies(net: Net, peer: Peer, frames: list[Frame]) -> None:
    """The server gets ``frames``; everything it sends back to ``peer`` is lost on the way."""
    for frame in frames:
        actions = net.registry.receive(peer.conn, decode_frame(encode_frame(frame)))
        del net.peers[peer.conn]
        net._apply(actions)
        net.peers[peer.conn] = peer


def test_post_written_but_never_delivered_is_sent_after_resume() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    a.session.post("can you hear me")
    a.session.take_outgoing()  # into a socket that was already dead
    net.reconnect(a)
    assert bodies(fac) == ["can you hear me"]
    assert bodies(a) == ["can you hear me"]


def test_post_that_got_through_before_the_drop_is_shown_once() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    b = net.join(fac, "gentle-lynx", address="10.0.0.3")
    a.session.post("did it go?")
    lose_replies(net, a, a.session.take_outgoing())
    assert bodies(fac) == ["did it go?"] and bodies(a) == []
    net.reconnect(a)  # the resume brings the echo back, and the post goes out a second time
    resent = [f for f in net.peers[fac.conn].frames if f.TYPE == "relayed"]
    assert len(resent) == 2
    for peer in (fac, a, b):
        assert bodies(peer) == ["did it go?"]
        assert not peer.of(ev.Gap)


def test_refused_post_is_not_sent_again_after_resume() -> None:
    net = Net()
    fac = net.open(auto_admit=True)
    a = net.join(fac, "quiet-otter")
    fac.session.moderate("mute", target=a.session.member, minutes=5)
    net.pump()
    a.session.post("let me speak")
    net.pump()
    assert a.last(ev.ErrorReceived).ref == "post"
    fac.session.moderate("unmute", target=a.session.member)
    net.pump()
    net.reconnect(a)
    assert bodies(fac) == []


def test_lead_rekey_lost_in_a_drop_reaches_everyone_after_resume() -> None:
    net = Net()
    fac = net.open()
    a = net.join(fac, "quiet-otter")
    b = net.join(fac, "gentle-lynx", address="10.0.0.3", admit=False)
    knock = fac.last(ev.KnockReceived)
    fac.session.admit(knock.member)
    fac.session.post("welcome")
    fac.session.take_outgoing()  # admit, rekey, roster, post: all lost with the connection
    net.reconnect(fac)
    # The rekey, roster and post went out again: everyone seated reads the post.
    assert bodies(fac) == ["welcome"] and bodies(a) == ["welcome"]
    # The admission itself never arrived: the knock comes again, and since the lead had
    # already seated b, its client welcomes b to where the circle is now, without asking.
    assert fac.of(ev.KnockReceived)[-1] == knock and b.of(ev.Admitted)
    fac.session.post("welcome, for real")
    net.pump()
    for peer in (fac, a, b):
        assert bodies(peer)[-1] == "welcome, for real"
