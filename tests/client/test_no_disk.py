"""S7 for the client: a whole session through the TUI writes nothing to disk."""

from __future__ import annotations

import sys

from circle_client import events as ev
from circle_client.tui.app import CircleApp
from circle_client.tui.modals import LeaveScreen
from circle_client.tui.screens import EndedScreen, RulesScreen
from circle_client.tui.widgets import Composer
from tests.conftest import ServerProcess
from tests.support.audited import disk_write

from .tui_support import circle_ready, click, facilitator, wait_for

WRITES: list[str] = []
RECORDING = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    if RECORDING:
        found = disk_write(event, args)
        if found:
            WRITES.append(found)


sys.addaudithook(_hook)  # permanent for this process, but it records only inside the test


async def test_a_session_writes_no_files(server: ServerProcess) -> None:
    global RECORDING
    fac, invite = await facilitator(server.url, auto_admit=True)
    app = CircleApp(
        idle_lock_seconds=0, suggest=lambda: "quiet-otter", invite=invite, handle="quiet-otter"
    )
    RECORDING = True
    try:
        async with app.run_test(size=(110, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RulesScreen), "the rules")
            await click(pilot, "#accept")
            await wait_for(pilot, lambda: circle_ready(app), "the circle")
            app.screen.query_one(Composer).text = "nothing of this is saved"
            await pilot.press("enter")
            msg = await fac.next_event(ev.MessageReceived)
            assert msg.content.body == "nothing of this is saved"
            await fac.post("a reply")
            await wait_for(
                pilot,
                lambda: "a reply" in [e.text for e in app.screen.transcript.recent(5)],
                "reply",
            )
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, LeaveScreen), "the leave dialog")
            await click(pilot, "#leave")
            await wait_for(pilot, lambda: isinstance(app.screen, EndedScreen), "the end")
    finally:
        RECORDING = False
    await fac.close()
    assert WRITES == []


def test_the_audit_would_see_a_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Control: the hook is live, so an empty list above means something."""
    global RECORDING
    RECORDING = True
    try:
        (tmp_path / "probe.txt").write_text("x")
    finally:
        RECORDING = False
    assert any("probe.txt" in w for w in WRITES)
    WRITES.clear()
