"""``circle``: anonymous support circles in the terminal."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TextIO

from circle_client.clipboard import invite_from_clipboard
from circle_client.proxy import check_proxy
from circle_client.session import Session
from circle_client.trust import tls_context
from protocol import crypto, limits
from protocol.errors import CircleError, InviteError
from protocol.invite import Invite, parse_server_url

DESCRIPTION = """\
Circle: small, anonymous, end-to-end encrypted support circles in the terminal.

  circle                         the home screen: join, open, browse, help
  circle join                    join a circle: paste the invite you were given, or
                                 copy it first and Circle fills it in from the clipboard
                                 (or pipe it in: circle join < invite.txt)
  circle open                    open a circle as its facilitator; without --server it
                                 lives in this window, reachable from this computer only
                                 (--share ADDRESS lets others reach it), and it ends for
                                 everyone when the window closes
  circle facilitator init        create a facilitator key for servers that only let
                                 approved facilitators open circles

Safety keys, on every screen: Ctrl+X quick exit (leaves, clears the screen, closes
Circle at once), F2 crisis resources, F1 help. Circle writes nothing to disk; the
only exception is the key file that 'circle facilitator init' creates on request.
"""

DEFAULT_KEY_FILE = Path.home() / ".config" / "circle" / "facilitator.key"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circle", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", metavar="URL", help="server address, e.g. wss://circle.example.org"
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="connect through this SOCKS5 proxy, e.g. socks5h://127.0.0.1:9050 for Tor "
        "(default: $ALL_PROXY if it is socks5h:// or socks5://)",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        help="also trust this PEM certificate for wss:// servers (a host's own certificate)",
    )
    parser.add_argument(
        "--idle-lock",
        metavar="MINUTES",
        type=float,
        default=5.0,
        help="hide the screen after this many idle minutes (0: never; default 5)",
    )
    parser.add_argument(
        "--bell",
        action="store_true",
        help="ring the terminal bell when someone knocks or a concern arrives (facilitators)",
    )
    parser.add_argument(
        "--trust-key",
        metavar="HEX",
        action="append",
        default=[],
        help="a host-approved facilitator key (64 hex digits, from the host); with it, the "
        "lobby lists only circles that key approved, not everything the server says",
    )
    sub = parser.add_subparsers(dest="command")
    join = sub.add_parser("join", help="join a circle with an invite")
    join.add_argument(
        "invite",
        nargs="?",
        help="the invite (circle://... or circles://...); better left out: Circle then "
        "takes it from the clipboard (only if an invite is there) or asks for it, since an "
        "argument stays in your shell history",
    )
    join.add_argument(
        "--no-clipboard",
        action="store_true",
        help="do not look on the clipboard for the invite; ask for it instead",
    )
    join.add_argument("--handle", help="your throwaway handle (default: a random suggestion)")
    opened = sub.add_parser("open", help="open a circle as its facilitator")
    opened.add_argument("--server", dest="open_server", metavar="URL", help="server to open it on")
    opened.add_argument("--title", help="the circle's title")
    opened.add_argument("--rules", help="ground rules everyone accepts before knocking")
    opened.add_argument("--minutes", type=int, default=60, help="session length (default 60)")
    opened.add_argument("--capacity", type=int, default=12, help="seats (default 12)")
    opened.add_argument("--listed", action="store_true", help="list it in the server's lobby")
    opened.add_argument("--auto-admit", action="store_true", help="admit everyone who knocks")
    opened.add_argument("--handle", help="your handle in the circle")
    opened.add_argument("--now", action="store_true", help="open at once, without the form")
    opened.add_argument(
        "--share",
        metavar="ADDRESS",
        help="without --server, the circle lives in this window and only this computer can "
        "reach it; --share 192.168.1.20[:PORT] lets others reach it at that address",
    )
    opened.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="facilitator key file (from 'circle facilitator init') for servers that only "
        "let approved facilitators open circles",
    )
    fac = sub.add_parser("facilitator", help="facilitator identity")
    fac_sub = fac.add_subparsers(dest="facilitator_command", required=True)
    init = fac_sub.add_parser("init", help="create a passphrase-protected facilitator key file")
    init.add_argument(
        "--output", type=Path, default=DEFAULT_KEY_FILE, help=f"(default {DEFAULT_KEY_FILE})"
    )
    return parser


def facilitator_init(path: Path) -> int:
    if path.exists():
        print(f"circle: {path} exists already; choose another --output.", file=sys.stderr)
        return 1
    passphrase = getpass.getpass("Passphrase for the new key (at least 12 characters): ")
    if len(passphrase) < 12:
        print("circle: the passphrase is too short; use at least 12 characters.", file=sys.stderr)
        return 1
    if getpass.getpass("Repeat the passphrase: ") != passphrase:
        print("circle: the passphrases differ; nothing was written.", file=sys.stderr)
        return 1
    keys = crypto.SigningKeys.generate()
    blob = crypto.lock_seed(keys.seed, passphrase)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # allowed-disk-write
    with os.fdopen(fd, "wb") as handle:  # allowed-disk-write: only on explicit request (F22)
        handle.write(blob)
    print(f"Wrote {path}. Give your host this public key for approved_keys:\n{keys.public.hex()}")
    return 0


HISTORY_WARNING = (
    "circle: note that an invite typed on the command line stays in your shell history, and "
    "others on this computer can see it (in 'ps') while Circle runs. "
    "Next time, run 'circle join' and paste it when asked."
)


def check_share(address: str) -> str | None:
    """None if ``--share`` names an address others can use; otherwise what to change."""
    host, _, port = address.rpartition(":")
    if not host:
        host, port = port, ""
    if host in ("0.0.0.0", "::", "*", ""):
        return (
            "--share needs the address other people use to reach this computer (like "
            "192.168.1.20), not a wildcard: it goes into the invite."
        )
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return "--share: the port must be a number from 1 to 65535, like 192.168.1.20:8765."
    return None


def invite_from_stdin(stdin: TextIO) -> str | None:
    """``circle join`` without an argument: the invite piped in, or None at a terminal (the
    join screen then asks for it). Line breaks from a wrapped copy are dropped."""
    if stdin.isatty():
        return None
    from circle_client.tui.wording import clean_invite

    return clean_invite(stdin.read())


def use_terminal_for_input() -> None:
    """After reading a piped invite, the app reads keys from the terminal itself."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        print("circle: Circle needs a terminal to run in.", file=sys.stderr)
        sys.exit(2)
    os.dup2(tty, 0)
    os.close(tty)


def trusted_keys(values: list[str]) -> frozenset[bytes]:
    """The keys given with --trust-key; a key that is not 64 hex digits stops here."""
    keys = set()
    for value in values:
        try:
            key = bytes.fromhex(value.strip())
        except ValueError:
            key = b""
        if len(key) != limits.KEY_BYTES:
            print(
                f"circle: --trust-key {value[:20]!r} is not a key: give the 64 hex digits "
                "the host publishes for an approved facilitator.",
                file=sys.stderr,
            )
            sys.exit(2)
        keys.add(key)
    return frozenset(keys)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    trusted = trusted_keys(args.trust_key)
    from_argument = args.command == "join" and args.invite is not None
    from_clipboard = False
    if args.command == "join" and args.invite is None:
        args.invite = invite_from_stdin(sys.stdin)
        if args.invite is not None:
            use_terminal_for_input()
        elif not args.no_clipboard:
            args.invite = invite_from_clipboard()
            from_clipboard = args.invite is not None
    if args.command == "facilitator":
        sys.exit(facilitator_init(args.output))
    server = getattr(args, "open_server", None) or args.server
    try:
        if args.proxy:  # every CircleClient (TUI and plain) reads ALL_PROXY: circle_client/proxy.py
            os.environ["ALL_PROXY"] = check_proxy(args.proxy)
        if args.ca_file:  # read by every CircleClient, like ALL_PROXY: circle_client/trust.py
            tls_context(args.ca_file)
            os.environ["CIRCLE_CA_FILE"] = args.ca_file
        if server:
            parse_server_url(server)
        if args.command == "join" and args.invite:
            Invite.parse(args.invite)
    except InviteError as exc:
        print(f"circle: {exc}", file=sys.stderr)
        sys.exit(2)
    except CircleError as exc:  # pragma: no cover - defensive
        print(f"circle: {exc}", file=sys.stderr)
        sys.exit(2)
    from circle_client.tui.app import CLEAR_SCREEN, CircleApp

    open_defaults: dict[str, object] = {}
    if args.command == "open":
        for key in ("title", "rules", "handle"):
            if getattr(args, key):
                open_defaults[key] = getattr(args, key)
        open_defaults.update(
            minutes=args.minutes,
            capacity=args.capacity,
            listed=args.listed,
            auto_admit=args.auto_admit,
        )
    approval = None
    if args.command == "open" and args.key is not None:
        try:
            blob = args.key.read_bytes()
            seed = crypto.unlock_seed(blob, getpass.getpass(f"Passphrase for {args.key}: "))
        except OSError as exc:
            print(f"circle: cannot read {args.key}: {exc.strerror}", file=sys.stderr)
            sys.exit(2)
        except CircleError as exc:
            print(f"circle: {exc}", file=sys.stderr)
            sys.exit(2)
        approval = crypto.SigningKeys.from_seed(seed)
        open_defaults["approval_key"] = approval
    share = getattr(args, "share", None)
    if share:
        problem = check_share(share)
        if server:
            problem = (
                "--share is for a circle that lives in this window; with --server the circle "
                "lives on that server. Give one or the other."
            )
        if problem:
            print(f"circle: {problem}", file=sys.stderr)
            sys.exit(2)
    if from_argument:
        print(HISTORY_WARNING, file=sys.stderr)

    def pinned_session() -> Session:
        session = Session()
        session.trusted_keys = trusted
        return session

    app = CircleApp(
        server_url=server.rstrip("/") if server else None,
        invite=(args.invite or "") if args.command == "join" else None,
        invite_from_argument=from_argument,
        invite_from_clipboard=from_clipboard,
        handle=getattr(args, "handle", None) if args.command == "join" else None,
        open_defaults=open_defaults,
        auto_open=args.command == "open" and (args.now or bool(args.title)),
        idle_lock_seconds=args.idle_lock * 60,
        share=share,
        bell=args.bell,
        session_factory=pinned_session,
    )
    result = app.run()
    if result == "quick-exit":
        sys.stdout.write(CLEAR_SCREEN)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
