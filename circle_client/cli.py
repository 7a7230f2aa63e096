"""``circle``: anonymous support circles in the terminal."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from circle_client.proxy import check_proxy
from circle_client.trust import tls_context
from protocol import crypto
from protocol.errors import CircleError, InviteError
from protocol.invite import Invite, parse_server_url

DESCRIPTION = """\
Circle: small, anonymous, end-to-end encrypted support circles in the terminal.

  circle                         the home screen: join, open, browse, help
  circle join INVITE             join a circle with the invite you were given
  circle open                    open a circle as its facilitator (a local server is
                                 started for you unless you give --server)
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
    sub = parser.add_subparsers(dest="command")
    join = sub.add_parser("join", help="join a circle with an invite")
    join.add_argument("invite", help="the invite: circle://... or circles://...")
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


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
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
        if args.command == "join":
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
    app = CircleApp(
        server_url=server.rstrip("/") if server else None,
        invite=args.invite if args.command == "join" else None,
        handle=getattr(args, "handle", None) if args.command == "join" else None,
        open_defaults=open_defaults,
        auto_open=args.command == "open" and (args.now or bool(args.title)),
        idle_lock_seconds=args.idle_lock * 60,
    )
    result = app.run()
    if result == "quick-exit":
        sys.stdout.write(CLEAR_SCREEN)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
