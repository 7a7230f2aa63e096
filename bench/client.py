"""Client-side measurements (P4, P5): crypto per message, a 50-member rekey, and the TUI with
10,000 messages.

    python -m bench.client            # the full run
    python -m bench.client --smoke    # a few iterations of each (CI runs this)

Prints a Markdown table of medians and p99s. The crypto baseline in the same run is the bare
libsodium cost of one Ed25519 signature and one XChaCha20-Poly1305 encryption of the same size.
The key-schedule rows (per-message ratchet, 50-member hybrid rekey, bare X25519 and ML-KEM)
come from ``bench/crypto.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import time

from bench.crypto import keyschedule_rows, print_table, timed
from protocol import crypto, kem
from protocol.content import PostContent, RosterContent, RosterEntry
from protocol.crypto import MemberKeys
from protocol.frames import Envelope, Relayed
from protocol.group import CircleCrypto, FacilitatorSigner
from protocol.ratchet import MAX_CHAIN_LENGTH

BODY = "I have not slept properly since the move and I keep pretending I am fine. " * 3


def crypto_rows(n: int = 2000) -> list[tuple[str, list[float], str]]:
    """One lead and one member through the real group layer (protocol.group)."""
    circle_id = os.urandom(16)
    keys = [MemberKeys.generate() for _ in range(50)]
    entries = tuple(
        RosterEntry(
            member=i + 1,
            handle=f"member-{i}",
            sign_key=k.sign.public,
            box_key=k.box.public,
            role="facilitator" if i == 0 else "member",
        )
        for i, k in enumerate(keys)
    )
    root, fpr = keys[0].sign.public, crypto.fingerprint(keys[0].sign.public)
    signer = FacilitatorSigner(circle_id, keys[0].sign)
    a = CircleCrypto(circle_id, 1, keys[0], root, fpr)
    b = CircleCrypto(circle_id, 2, keys[1], root, fpr)
    a.start(RosterContent(circle_id, 1, 0, bytes(32), entries[:1]))
    a.key_update()

    def roster(members: tuple[RosterEntry, ...]) -> RosterContent:
        return RosterContent(
            circle_id, a.roster_version + 1, a.epoch + 1, a.transcript_hash, members
        )

    rekey, frame, welcomes = signer.commit(a, roster(entries[:2]), {2: (0, b.knock_key())})
    a.apply_rekey(rekey)
    a.apply_roster(frame)
    b.accept_welcome(welcomes[2])
    update = b.key_update()
    assert update is not None
    a.take_key_update(dataclasses.replace(update, member=2))
    for i in range(2, 50):  # everyone else's fresh epoch key, as their key updates bring them
        a.note_knock_key(i + 1, 1, kem.EpochKeyPair.for_suite(1, a.suite).public)
    content = PostContent(body=BODY, reply_to=None, warning=None, me=False)
    # One epoch carries at most MAX_CHAIN_LENGTH messages per sender (PROTOCOL.md 9.5).
    n = min(n, MAX_CHAIN_LENGTH // 2)
    envelopes: list[Envelope] = []
    seal = timed(lambda: envelopes.append(a.seal("post", content)), n)
    frames = iter(Relayed(kind="post", sender=1, rseq=1, env=e) for e in envelopes)
    open_ = timed(lambda: b.open(next(frames)), n)
    # A commit to all 50 that is a post-quantum step (hybrid entries): the worst case.
    rekey_50 = timed(lambda: signer.commit(a, roster(entries), {}), 50)
    key, nonce = os.urandom(32), os.urandom(24)
    bare_sign = timed(lambda: keys[0].sign.sign("x", BODY.encode()), n)
    bare_aead = timed(lambda: crypto.aead_seal(key, crypto.pad(BODY.encode()), b"ad", nonce), n)
    return [
        ("seal + sign one message", seal, "< 200 µs"),
        ("verify + open one message", open_, "< 200 µs"),
        ("commit for 50 members, hybrid (lead, group layer)", rekey_50, "< 50 ms"),
        ("baseline: one Ed25519 signature", bare_sign, ""),
        ("baseline: one XChaCha20-Poly1305 seal", bare_aead, ""),
    ]


async def tui_rows(messages: int = 10_000) -> list[tuple[str, list[float], str]]:
    """10,000 messages into the circle screen, then keypress-to-screen while typing."""
    from textual import events
    from textual.widgets import Static

    from circle_client import events as ev
    from circle_client.tui.app import CircleApp
    from circle_client.tui.widgets import Composer

    class Session:
        ends_at = time.time() + 3600
        member = 2
        lead = None
        closed = False
        muted_until = 0.0
        round: tuple[int, ...] = ()
        share_seconds = None
        turn_started = 0.0
        phase = None
        members: tuple[tuple[int, str, str], ...] = ()
        locked = paused = resuming = False
        slow_seconds = 0

        def handle_of(self, member: int) -> str:
            return f"member-{member}"

        def fingerprint(self) -> str:
            return "0000 0000 0000 0000 0000"

        def role(self) -> str:
            return "member"

    class Client:
        server_url = "ws://127.0.0.1:1"
        session = Session()

        async def close(self) -> None:
            return None

    app = CircleApp(idle_lock_seconds=0)
    feed: list[float] = []
    keys: list[float] = []
    direct: list[float] = []
    rss_before = rss_after = 0
    async with app.run_test(size=(120, 40)) as pilot:
        app.client = Client()  # type: ignore[assignment]
        app.circle_title = "bench"
        app.enter_circle()
        await pilot.pause()
        empty_keys: list[float] = []
        app.screen.query_one(Composer).focus()
        for char in "baseline with no messages " * 4:
            start = time.perf_counter()
            await pilot.press(char if char != " " else "space")
            empty_keys.append(time.perf_counter() - start)
        app.screen.query_one(Composer).text = ""
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for i in range(messages):
            content = PostContent(body=f"{i}: {BODY[:120]}", reply_to=None, warning=None, me=False)
            start = time.perf_counter()
            app.route(ev.MessageReceived((3, 1, i + 1), 3, "member-3", content, False))
            feed.append(time.perf_counter() - start)
            if i % 500 == 0:
                await pilot.pause()
        await pilot.pause()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        composer = app.screen.query_one(Composer)
        composer.focus()
        status = app.screen.query_one("#status", Static)
        assert status is not None
        for char in "typing stays responsive " * 4:
            start = time.perf_counter()
            await pilot.press(char if char != " " else "space")
            keys.append(time.perf_counter() - start)
        # Below Pilot: from posting the key event to the compositor's next screen update.
        updated = asyncio.Event()
        original = app._display

        def display(screen: object, renderable: object) -> None:
            if renderable is not None:
                updated.set()
            original(screen, renderable)  # type: ignore[arg-type]

        app._display = display  # type: ignore[method-assign]
        await pilot.pause()
        for char in "abcdefghij" * 5:
            updated.clear()
            start = time.perf_counter()
            composer.post_message(events.Key(char, char))
            await asyncio.wait_for(updated.wait(), 2)
            direct.append(time.perf_counter() - start)
        app._display = original  # type: ignore[method-assign]
        entries = len(app.screen.transcript.entries)  # type: ignore[attr-defined]
        lines = len(app.screen.query_one("#transcript").lines)  # type: ignore[attr-defined]
    print(
        f"transcript entries kept: {entries}; lines drawn: {lines}; "
        f"max RSS growth while feeding: {(rss_after - rss_before) / 1024:.1f} MiB"
    )
    return [
        (f"TUI: route + draw one incoming message (of {messages:,})", feed, ""),
        ("TUI: keypress to screen, empty circle (baseline; Pilot overhead)", empty_keys, ""),
        (f"TUI: keypress to screen with {messages:,} messages (via Pilot)", keys, ""),
        (f"TUI: key event to screen update with {messages:,} messages", direct, "< 50 ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a few iterations of each, to prove it runs"
    )
    smoke = parser.parse_args().smoke
    rows = (
        crypto_rows(20 if smoke else 2000)
        + keyschedule_rows(smoke)
        + asyncio.run(tui_rows(200 if smoke else 10_000))
    )
    print_table(rows)


if __name__ == "__main__":
    main()
