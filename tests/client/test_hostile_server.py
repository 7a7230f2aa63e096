"""A hostile server: garbage, unexpected and forged frames reach the client core, which keeps
going, says what happened, and accepts nothing forged (S2, S9)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import msgpack
import pytest
from websockets.asyncio.server import ServerConnection, serve

from circle_client import events as ev
from circle_client.client import CircleClient, ConnectError
from protocol import crypto, limits
from protocol.content import RosterEntry
from protocol.crypto import MemberKeys
from protocol.frames import (
    CircleInfo,
    Closed,
    Envelope,
    Join,
    Knock,
    Lobby,
    Relayed,
    ServerHello,
    Welcome,
    WelcomeBody,
    decode_frame,
    encode_frame,
)
from protocol.group import CircleCrypto, FacilitatorSigner
from protocol.invite import Invite
from protocol.kem import EpochPublicKey


def hello(version: int = limits.PROTOCOL_VERSION) -> bytes:
    return encode_frame(
        ServerHello(
            version=version,
            challenge=b"c" * 32,
            guidelines="g",
            crisis="c",
            max_frame=65536,
            lobby=False,
            open_policy="anyone",
        )
    )


@pytest.fixture
async def hostile() -> AsyncIterator[Callable[..., object]]:
    servers = []

    async def start(script):  # type: ignore[no-untyped-def]
        async def handler(ws: ServerConnection) -> None:
            await ws.recv()  # hello
            await ws.send(hello())
            await script(ws)
            await ws.wait_closed()

        server = await serve(handler, "127.0.0.1", 0, compression=None)
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_garbage_and_unexpected_frames_do_not_break_the_client(hostile) -> None:  # type: ignore[no-untyped-def]
    async def script(ws: ServerConnection) -> None:
        await ws.send(b"\xc1")  # not msgpack
        await ws.send(msgpack.packb({"t": "nope"}))  # unknown frame
        await ws.send("text frame")  # ignored
        env = Envelope(epoch=0, seq=1, nonce=b"n" * 24, ct=b"c" * 32, sig=b"s" * 64)
        await ws.send(
            encode_frame(Relayed(kind="post", sender=9, rseq=1, env=env))
        )  # not in a circle
        await ws.send(encode_frame(Closed(reason="time_up")))  # nor here
        await ws.send(encode_frame(Lobby(circles=())))

    url = await hostile(script)
    client = CircleClient(url, reconnect=False)
    await client.connect()
    alerts = [await client.next_event(ev.SecurityAlert) for _ in range(4)]
    assert ["unreadable" in a.message for a in alerts] == [True, True, False, False]
    assert {a.kind for a in alerts} == {"malformed"}  # garbage, unknown, relayed, closed
    await client.next_event(ev.LobbyListed)  # and it still answers what it should
    assert not client.session.closed
    await client.close()


async def test_server_cannot_substitute_the_facilitator(hostile) -> None:  # type: ignore[no-untyped-def]
    real = MemberKeys.generate()
    impostor = MemberKeys.generate()
    invite = Invite.create("ws://127.0.0.1:1", crypto.fingerprint(real.sign.public))

    async def script(ws: ServerConnection) -> None:
        join = decode_frame(await ws.recv())
        # Answer with the impostor's key as the facilitator: the invite fingerprint rejects it.
        await ws.send(
            encode_frame(
                CircleInfo(
                    circle=invite.circle_id,
                    member=2,
                    facilitator_key=impostor.sign.public,
                    info=b"x" * 64,
                    ends_at=1.0,
                )
            )
        )
        assert join.TYPE == "join"

    url = await hostile(script)
    client = CircleClient(url, reconnect=False)
    await client.connect()
    client.session.join(invite)  # the session only needs its circle id and secret
    await client._flush()
    alert = await client.next_event(ev.SecurityAlert)
    assert "does not match your invite" in alert.message
    assert client.session.closed
    await client.close()


async def test_forged_welcome_is_refused(hostile) -> None:  # type: ignore[no-untyped-def]
    real = MemberKeys.generate()
    invite = Invite.create("ws://127.0.0.1:1", crypto.fingerprint(real.sign.public))
    secrets = crypto.CircleSecrets.from_secret(invite.secret, invite.circle_id)
    from protocol.content import InfoContent, RosterContent
    from protocol.group import seal_info

    info = seal_info(
        secrets,
        invite.circle_id,
        real.sign.public,
        InfoContent(title="t", rules="r", facilitator_box=real.box.public),
    )

    async def script(ws: ServerConnection) -> None:
        join = decode_frame(await ws.recv())
        await ws.send(
            encode_frame(
                CircleInfo(
                    circle=invite.circle_id,
                    member=2,
                    facilitator_key=real.sign.public,
                    info=info,
                    ends_at=1.0,
                )
            )
        )
        knock = decode_frame(await ws.recv())
        assert isinstance(join, Join) and isinstance(knock, Knock)
        # The server runs a circle of its own under its own key, and welcomes the joiner
        # into it: every secret is genuine, only the key is not the invite's.
        keys = MemberKeys.generate()
        own = CircleCrypto(
            invite.circle_id, 1, keys, keys.sign.public, crypto.fingerprint(keys.sign.public)
        )
        seat = RosterEntry(
            member=1,
            handle="calm-heron",
            sign_key=keys.sign.public,
            box_key=keys.box.public,
            role="facilitator",
        )
        joiner = RosterEntry(
            member=2,
            handle="quiet-otter",
            sign_key=join.sign_key,
            box_key=join.box_key,
            role="member",
        )
        own.start(RosterContent(invite.circle_id, 1, 0, bytes(32), (seat,)))
        roster = RosterContent(invite.circle_id, 2, 1, own.transcript_hash, (seat, joiner))
        forger = FacilitatorSigner(invite.circle_id, keys.sign)
        knock_key = (knock.key, EpochPublicKey(knock.x25519, knock.mlkem))
        body: WelcomeBody = forger.commit(own, roster, {2: knock_key})[2][2]
        await ws.send(
            encode_frame(
                Welcome(circle=invite.circle_id, member=2, welcome=body, ends_at=1.0, rseq=0)
            )
        )

    url = await hostile(script)
    client = CircleClient(url, reconnect=False)
    await client.connect()
    host, port = url.removeprefix("ws://").split(":")
    await client.join(
        Invite(
            host, int(port), False, invite.circle_id, invite.secret, invite.facilitator_fingerprint
        )
    )
    await client.knock("quiet-otter")
    alert = await client.next_event(ev.SecurityAlert)
    assert "did not come from the facilitator" in alert.message
    assert not client.session.admitted
    await client.close()


async def test_frames_out_of_place_are_ignored_not_fatal(hostile) -> None:  # type: ignore[no-untyped-def]
    from protocol.frames import (
        ConcernNotice,
        Knocked,
        Opened,
        Rekey,
        Resumed,
        Roster,
    )

    fake_auth = {"signer": b"k" * 32, "sig": b"s" * 64, "cert": None}
    from protocol.frames import Authority

    auth = Authority(**fake_auth)

    async def script(ws: ServerConnection) -> None:
        for frame in (
            Opened(circle=b"c" * 16, member=1, ends_at=1.0),
            Welcome(
                circle=b"c" * 16,
                member=1,
                ends_at=1.0,
                rseq=0,
                welcome=WelcomeBody(epoch=1, key=0, secret=b"x" * 81, sealed=b"x" * 80, auth=auth),
            ),
            Knocked(
                member=2,
                sign_key=b"k" * 32,
                box_key=b"b" * 32,
                sealed=b"x" * 40,
                key=0,
                x25519=b"x" * 32,
                mlkem=b"",
            ),
            ConcernNotice(sender=2, sealed=b"x" * 80),
            Roster(version=2, epoch=1, nonce=b"n" * 24, sealed=b"x" * 40, auth=auth, rseq=1),
            Rekey(epoch=1, keys=(), roster=b"r" * 32, tag=b"t" * 32, auth=auth, rseq=2),
            Resumed(circle=b"c" * 16, member=1, missed=0, lost=False, ends_at=1.0),
            CircleInfo(
                circle=b"c" * 16, member=2, facilitator_key=b"k" * 32, info=b"x" * 64, ends_at=1.0
            ),
            Closed(reason="shutdown"),
            Lobby(circles=()),
        ):
            await ws.send(encode_frame(frame))

    url = await hostile(script)
    client = CircleClient(url, reconnect=False)
    await client.connect()
    events = []
    while not isinstance(event := await client.next_event(), ev.LobbyListed):
        events.append(event)  # it got through all of them, to the lobby answer
    assert [type(e) for e in events] == [ev.SecurityAlert] * 9
    assert {e.kind for e in events} == {"malformed"}
    assert not client.session.admitted and not client.session.closed
    await client.close()


async def test_a_server_speaking_another_version_is_named_with_what_to_do() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.send(hello(version=3))
        await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0, compression=None)
    port = next(iter(server.sockets)).getsockname()[1]
    client = CircleClient(f"ws://127.0.0.1:{port}", reconnect=False)
    try:
        with pytest.raises(ConnectError, match="protocol 3.*Update circle"):
            await client.connect()
        assert not client.session.challenge  # nothing is signed for a server it cannot speak to
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
