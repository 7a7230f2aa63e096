"""``circle-server``: host support circles with one command."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import ssl
import sys
import textwrap

from circle_server.broker import MemoryBroker
from circle_server.cluster import BrokerUnavailable
from circle_server.config import (
    ENV_PREFIX,
    SETTINGS,
    ConfigError,
    ServerConfig,
    broker_url,
    load_config,
    render_config,
)
from circle_server.gate import fd_budget, raise_fd_limit
from circle_server.metrics import version
from circle_server.server import CircleServer

DESCRIPTION = """\
Host Circle support circles: anonymous, end-to-end encrypted and ephemeral.
The server relays ciphertext it cannot read, keeps everything in memory, and
forgets a circle the moment it closes. It listens on 127.0.0.1:8765 by default;
put it behind a TLS reverse proxy (or give tls_cert/tls_key) to serve others.
"""


def settings_help() -> str:
    lines = [
        "settings (in the TOML file, under [server] or at top level; or as",
        f"environment variables {ENV_PREFIX}<NAME>, e.g. {ENV_PREFIX}PORT=9000):",
    ]
    for name, f in SETTINGS.items():
        default = f.default if f.default not in ((), None) else "-"
        if isinstance(default, str) and len(default) > 30:
            default = default[:27] + "..."
        help_text = f"{f.metadata['help']} (default: {default})"
        wrapped = textwrap.wrap(help_text, 52)
        lines.append(f"  {name:<24}{wrapped[0]}")
        lines += [f"  {'':<24}{line}" for line in wrapped[1:]]
    lines += [
        "",
        "endpoints: ws://HOST:PORT/ (clients), /healthz (200 when healthy), /metrics (Prometheus)",
        "stop: SIGTERM or Ctrl-C tells every member and exits within a few seconds.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="circle-server",
        description=DESCRIPTION,
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="a circle-server.toml file")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8765; 0 = any free)")
    parser.add_argument("--broker", help="'memory' (default) or redis://HOST:PORT/DB")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--version", action="version", version=f"circle-server {version()}")
    parser.add_argument(
        "--check-config",
        metavar="FILE",
        dest="check_config",
        help="check FILE (with CIRCLE_* variables and options applied) and exit: 0 if it is "
        "valid, 2 with every problem listed",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        dest="print_config",
        help="print the settings in effect as TOML (passwords masked) and exit",
    )
    return parser.parse_args(argv)


def check(path: str, overrides: dict[str, object]) -> int:
    """``--check-config``: load as a start would, report, exit 0 or 2."""
    try:
        load_config(path, overrides=overrides)
    except ConfigError as exc:
        print(f"circle-server: {path} has problems:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  {line}", file=sys.stderr)
        return 2
    print(f"circle-server: {path} is valid")
    return 0


def show(path: str | None, overrides: dict[str, object]) -> int:
    """``--print-config``: the settings in effect, as a TOML file would give them."""
    try:
        config = load_config(path, overrides=overrides)
    except ConfigError as exc:
        print(f"circle-server: {exc}", file=sys.stderr)
        return 2
    print(render_config(config), end="")
    return 0


async def run(config_path: str | None, overrides: dict[str, object]) -> int:
    try:
        config = load_config(config_path, overrides=overrides)
        url = broker_url(config)
    except ConfigError as exc:
        print(f"circle-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("circle_server")
    before, after = raise_fd_limit()
    raised = f" (raised from {before})" if after != before else ""
    log.info("file descriptors: limit %d%s", after, raised)
    if config.max_connections > fd_budget():
        log.warning(
            "max_connections is %d but the file descriptor limit allows about %d; raise "
            "LimitNOFILE (systemd) or ulimit -n, or lower max_connections",
            config.max_connections,
            fd_budget(),
        )
    broker = MemoryBroker()
    if config.broker != "memory":
        from circle_server.redis_broker import RedisBroker  # only for hosts who scale out

        broker = RedisBroker(url)
    server = CircleServer(config, broker=broker)
    try:
        await server.start()
    except BrokerUnavailable as exc:
        print(f"circle-server: {exc}", file=sys.stderr)
        return 1
    except ssl.SSLError as exc:  # the files changed since they were checked at load
        print(
            f"circle-server: cannot use tls_cert/tls_key ({exc.reason or exc}); check that "
            "tls_cert is the PEM certificate chain and tls_key its private key.",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"circle-server: {_listen_problem(config, exc)}", file=sys.stderr)
        return 1
    server.install_signal_handlers()
    scheme = "wss" if config.tls_cert else "ws"
    if config.metrics_listen:
        host = config.metrics_listen.rpartition(":")[0]
        print(f"circle-server metrics on http://{host}:{server.metrics_port}/metrics", flush=True)
    # The listening line is how scripts and tests learn the port when --port 0 is used.
    print(f"circle-server listening on {scheme}://{config.host}:{server.port}/", flush=True)
    await server.serve_forever()
    logging.getLogger("circle_server").info("stopped")
    return 0


def _listen_problem(config: ServerConfig, exc: OSError) -> str:
    """What went wrong when start-up failed with an OSError, and what to do about it."""
    if exc.filename is not None:  # a TLS file vanished or lost its permissions
        return f"cannot read {exc.filename!r} ({exc.strerror}); check tls_cert and tls_key."
    where = f"cannot listen on {config.host}:{config.port}: {exc.strerror}."
    if exc.errno == errno.EADDRINUSE:
        return f"{where} Is another server running? Try --port."
    if exc.errno == errno.EACCES:
        return f"{where} Ports below 1024 need CAP_NET_BIND_SERVICE (see docs/hosting.md)."
    return f"{where} Check the host setting."


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides: dict[str, object] = {
        "host": args.host,
        "port": args.port,
        "broker": args.broker,
        "log_level": args.log_level,
    }
    if args.check_config:
        sys.exit(check(args.check_config, overrides))
    if args.print_config:
        sys.exit(show(args.config, overrides))
    try:
        import uvloop  # type: ignore[import-not-found]

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    sys.exit(runner(run(args.config, overrides)))


if __name__ == "__main__":
    main()
