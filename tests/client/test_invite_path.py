"""An invite names the server's websocket path when the server is not at ``/`` (a proxy that
serves other things too): a member who joins from the invite alone reaches the circle."""

from __future__ import annotations

from circle_client import events as ev
from circle_client.client import CircleClient
from protocol.invite import Invite
from tests.conftest import start_server


async def test_a_member_joins_from_an_invite_with_a_path_prefix() -> None:
    proc = start_server(env={"CIRCLE_WEBSOCKET_PATH": "/support/circle"})
    fac = CircleClient(proc.url + "/support/circle")
    member: CircleClient | None = None
    try:
        await fac.connect()
        invite = await fac.open_circle(
            handle="calm-heron", title="Evening circle", rules="Be gentle.", auto_admit=True
        )
        text = str(invite)
        assert "/support/circle/" in text
        parsed = Invite.parse(text)  # what the member pastes: the text, nothing else
        assert parsed.server_url == proc.url + "/support/circle"
        member = CircleClient(parsed.server_url)
        await member.connect()
        await member.join(text)
        await member.knock("quiet-otter")
        await member.next_event(ev.Admitted)
        await fac.post("welcome, both of you")
        received: ev.MessageReceived = await member.next_event(ev.MessageReceived)
        assert received.content.body == "welcome, both of you"
    finally:
        if member is not None:
            await member.close()
        await fac.close()
        proc.stop()
