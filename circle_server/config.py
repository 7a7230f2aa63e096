"""circle-server settings: built-in defaults, a TOML file, then CIRCLE_* environment overrides.

Every setting is declared once in :data:`SETTINGS` with its type, default and help text; the
``--help`` output, the config reference in docs/hosting.md and the validation messages all come
from there. An invalid file gets an error naming the key and the problem.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from circle_server.proxy import parse_network
from protocol import limits
from protocol.errors import CircleError


class ConfigError(CircleError):
    """The configuration is invalid; the message names the key and what to change."""


DEFAULT_GUIDELINES = (
    "Be kind. Speak from your own experience. What is shared here stays here. "
    "No advice unless asked. No names, places or contact details."
)
DEFAULT_CRISIS = (
    "If you are in danger or thinking about ending your life, please contact local emergency "
    "services now (112 in the EU, 911 in the US, 999 in the UK), or a crisis line such as "
    "988 (US, call or text) or Samaritans 116 123 (UK and Ireland). findahelpline.com lists "
    "free, confidential lines in many countries."
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8765, metadata={"help": "port to listen on (0 picks a free one)"})
    tls_cert: str | None = field(
        default=None, metadata={"help": "PEM certificate chain; serve wss:// directly"}
    )
    tls_key: str | None = field(default=None, metadata={"help": "PEM private key for tls_cert"})
    open_policy: str = field(
        default="anyone",
        metadata={"help": "who may open circles: 'anyone' or 'approved' (approved_keys only)"},
    )
    approved_keys: tuple[str, ...] = field(
        default=(), metadata={"help": "hex facilitator keys allowed to open circles"}
    )
    max_circles: int = field(default=100, metadata={"help": "circles open at once"})
    max_members: int = field(default=50, metadata={"help": "largest capacity a circle may ask for"})
    max_minutes: int = field(default=180, metadata={"help": "longest session, in minutes"})
    rate_per_second: float = field(
        default=5.0, metadata={"help": "frames per second a member may send (token bucket)"}
    )
    rate_burst: int = field(default=20, metadata={"help": "token bucket burst size"})
    rate_strikes: int = field(
        default=20, metadata={"help": "rate-limited frames before the connection is closed"}
    )
    max_frame_bytes: int = field(
        default=limits.MAX_FRAME_BYTES, metadata={"help": "largest websocket message accepted"}
    )
    max_connections_per_ip: int = field(
        default=16, metadata={"help": "connections from one address (hashed, memory only)"}
    )
    max_connections: int = field(default=5000, metadata={"help": "connections in total"})
    max_handshakes: int = field(
        default=1000, metadata={"help": "connections still in the HTTP handshake, in total"}
    )
    max_handshakes_per_ip: int = field(
        default=8, metadata={"help": "connections still in the handshake from one address"}
    )
    send_buffer_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "bytes waiting for a member who stopped reading before it is dropped"},
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "proxy addresses/CIDRs whose PROXY header or forwarding header names "
            "the client (none: the socket address is the client)"
        },
    )
    forwarded_header: str = field(
        default="X-Forwarded-For",
        metadata={
            "help": "header trusted proxies name clients in: 'X-Forwarded-For', "
            "'Forwarded' or 'none' (PROXY protocol only)"
        },
    )
    metrics_listen: str = field(
        default="",
        metadata={"help": "HOST:PORT to serve /metrics on instead of the public port"},
    )
    websocket_path: str = field(
        default="/", metadata={"help": "the one path that upgrades to a websocket"}
    )
    handshake_timeout: float = field(
        default=10.0, metadata={"help": "seconds to finish the websocket handshake and hello"}
    )
    idle_timeout: float = field(
        default=60.0, metadata={"help": "seconds without a pong before a connection is dropped"}
    )
    resume_grace: float = field(
        default=120.0, metadata={"help": "seconds a dropped member may resume"}
    )
    resume_buffer: int = field(
        default=512, metadata={"help": "frames kept per circle for resuming members"}
    )
    resume_buffer_bytes: int = field(
        default=2 * 1024 * 1024,
        metadata={"help": "bytes of frames kept per circle for resuming members"},
    )
    facilitator_grace: float = field(
        default=300.0,
        metadata={"help": "seconds a circle waits for a facilitator before closing"},
    )
    drain_seconds: int = field(
        default=0,
        metadata={
            "help": "on SIGTERM, fail /healthz and warn members this many seconds "
            "before stopping (0: stop at once)"
        },
    )
    allowed_origins: tuple[str, ...] = field(
        default=(), metadata={"help": "browser Origins allowed (none: browsers refused)"}
    )
    guidelines: str = field(
        default=DEFAULT_GUIDELINES, metadata={"help": "community guidelines shown on join"}
    )
    crisis_resources: str = field(
        default=DEFAULT_CRISIS, metadata={"help": "crisis resources every client can show"}
    )
    risk_phrases: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "extra phrases (any language) for which clients show the crisis resources "
            "before sending; checked on each client, never reported"
        },
    )
    lobby: bool = field(default=True, metadata={"help": "serve the directory of listed circles"})
    broker: str = field(
        default="memory", metadata={"help": "'memory', or redis://HOST:PORT/DB to scale out"}
    )
    broker_password_file: str | None = field(
        default=None,
        metadata={
            "help": "file holding the Redis password (systemd LoadCredential=), kept "
            "out of the broker URL"
        },
    )
    log_level: str = field(default="INFO", metadata={"help": "DEBUG, INFO, WARNING or ERROR"})

    def __post_init__(self) -> None:
        _validate(self)


SETTINGS = {f.name: f for f in dataclasses.fields(ServerConfig)}
ENV_PREFIX = "CIRCLE_"


def _coerce(name: str, value: Any, source: str, strict: bool = False) -> Any:
    """``value`` as setting ``name`` needs it. ``strict`` (a TOML file, which has types of its
    own) takes no strings for numbers, booleans or lists: ``port = "8765"`` is an error, not a
    silent conversion. Environment variables and the command line are text, so they are parsed."""
    f = SETTINGS[name]
    kind = f.type if isinstance(f.type, str) else str(f.type)
    where = f"{name!r} in {source}"
    if kind.startswith("tuple"):
        if isinstance(value, str) and not strict:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where} must be a list of strings, e.g. ["a", "b"]')
        return tuple(value)
    if kind == "bool":
        if isinstance(value, str) and not strict:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if kind == "int":
        try:
            if isinstance(value, bool | float) or (strict and not isinstance(value, int)):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a whole number, not {value!r}") from None
    if kind == "float":
        try:
            if isinstance(value, bool) or (strict and not isinstance(value, int | float)):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, not {value!r}") from None
    if kind.startswith("str | None"):
        if value in ("", None):
            return None
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string (in quotes), not {value!r}")
    return value


def unknown_setting(key: str, source: str) -> str:
    """The error for a key that is not a setting, with the closest one if there is one."""
    close = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else "; see 'circle-server --help'"
    return f"unknown setting {key!r} in {source!r}{hint}"


def _validate(c: ServerConfig) -> None:
    """Check every setting; one ConfigError lists every problem, one per line."""
    problems: list[str] = []

    def need(ok: bool, key: str, problem: str) -> None:
        if not ok:
            problems.append(f"{key!r}: {problem}")

    need(0 <= c.port < 65536, "port", "must be between 0 and 65535")
    need(c.open_policy in ("anyone", "approved"), "open_policy", "must be 'anyone' or 'approved'")
    need(
        c.open_policy != "approved" or bool(c.approved_keys),
        "approved_keys",
        "open_policy is 'approved' but no keys are listed; add the facilitators' keys",
    )
    for key in c.approved_keys:
        try:
            ok = len(bytes.fromhex(key)) == limits.KEY_BYTES
        except ValueError:
            ok = False
        need(ok, "approved_keys", f"{key[:16]!r}... is not a 64-character hex key")
    need(c.max_circles >= 1, "max_circles", "must be at least 1")
    need(
        2 <= c.max_members <= limits.MAX_CAPACITY,
        "max_members",
        f"must be 2..{limits.MAX_CAPACITY}",
    )
    need(
        1 <= c.max_minutes <= limits.MAX_MINUTES, "max_minutes", f"must be 1..{limits.MAX_MINUTES}"
    )
    need(c.rate_per_second > 0, "rate_per_second", "must be above 0")
    need(c.rate_burst >= 1, "rate_burst", "must be at least 1")
    need(c.rate_strikes >= 1, "rate_strikes", "must be at least 1")
    need(
        4096 <= c.max_frame_bytes <= 16 * 1024 * 1024,
        "max_frame_bytes",
        "must be between 4096 and 16777216",
    )
    seats = min(c.max_members, limits.MAX_HYBRID_CAPACITY)
    need(
        c.max_frame_bytes >= limits.hybrid_commit_frame_bytes(seats),
        "max_frame_bytes",
        f"must be at least {limits.hybrid_commit_frame_bytes(seats)}, so that a post-quantum "
        f"key change for a circle of {seats} fits in one message (or lower max_members)",
    )
    need(c.max_connections_per_ip >= 1, "max_connections_per_ip", "must be at least 1")
    need(c.max_connections >= 1, "max_connections", "must be at least 1")
    need(c.max_handshakes >= 1, "max_handshakes", "must be at least 1")
    need(c.max_handshakes_per_ip >= 1, "max_handshakes_per_ip", "must be at least 1")
    need(
        c.send_buffer_bytes > c.resume_buffer_bytes,
        "send_buffer_bytes",
        "must be larger than resume_buffer_bytes (a resuming member is sent that much at once)",
    )
    for entry in c.trusted_proxies:
        try:
            parse_network(entry)
        except ValueError as exc:
            need(False, "trusted_proxies", str(exc))
    need(
        c.forwarded_header.lower() in ("x-forwarded-for", "forwarded", "none"),
        "forwarded_header",
        "must be 'X-Forwarded-For', 'Forwarded' or 'none'",
    )
    need(
        not c.metrics_listen or split_host_port(c.metrics_listen) is not None,
        "metrics_listen",
        "must be HOST:PORT, e.g. 127.0.0.1:9765",
    )
    need(
        c.websocket_path.startswith("/") and c.websocket_path not in ("/healthz", "/metrics"),
        "websocket_path",
        "must start with '/' and not be /healthz or /metrics",
    )
    for key in ("handshake_timeout", "idle_timeout", "resume_grace", "facilitator_grace"):
        need(getattr(c, key) > 0, key, "must be above 0 seconds")
    need(c.resume_buffer >= 16, "resume_buffer", "must be at least 16")
    need(0 <= c.drain_seconds <= 600, "drain_seconds", "must be 0..600")
    need(
        c.resume_buffer_bytes >= c.max_frame_bytes,
        "resume_buffer_bytes",
        "must be at least max_frame_bytes",
    )
    need(
        (c.tls_cert is None) == (c.tls_key is None), "tls_key", "set tls_cert and tls_key together"
    )
    need(
        c.broker == "memory" or c.broker.startswith(("redis://", "rediss://")),
        "broker",
        "must be 'memory' or a redis:// URL",
    )
    need(
        c.log_level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
        "log_level",
        "must be DEBUG, INFO, WARNING or ERROR",
    )
    need(len(c.guidelines) <= limits.MAX_STR, "guidelines", f"longer than {limits.MAX_STR}")
    need(
        len(c.crisis_resources) <= limits.MAX_STR,
        "crisis_resources",
        f"longer than {limits.MAX_STR} characters",
    )
    need(
        len(c.risk_phrases) <= limits.MAX_RISK_PHRASES
        and all(0 < len(p.strip()) and len(p) <= limits.MAX_RISK_PHRASE for p in c.risk_phrases),
        "risk_phrases",
        f"at most {limits.MAX_RISK_PHRASES} phrases of 1 to {limits.MAX_RISK_PHRASE} characters",
    )
    if problems:
        raise ConfigError("\n".join(problems))


def mask(url: str) -> str:
    """A broker URL with its password replaced by ``****``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':****' if colon else '****'}@{host}"


def render_config(config: ServerConfig) -> str:
    """The settings as a ``[server]`` TOML table (valid input for ``--config``); secrets
    (the broker password) masked."""
    lines = ["[server]"]
    for name in SETTINGS:
        value = getattr(config, name)
        if name == "broker":
            value = mask(value)
        if value is None:
            lines.append(f"# {name} is not set")
            continue
        lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value)
    if "\n" in text:
        return '"""\n' + text.replace("\\", "\\\\").replace('"""', '\\"""') + '"""'
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_host_port(text: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9765"`` or ``"[::1]:9765"`` -> (host, port); None if it is neither."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults, then the TOML file, then ``CIRCLE_<KEY>`` variables, then ``overrides``.
    Every problem found is reported at once, one per line."""
    values: dict[str, Any] = {}
    problems: list[str] = []

    def collect(key: str, value: Any, source: str, strict: bool) -> None:
        try:
            values[key] = _coerce(key, value, source, strict)
        except ConfigError as exc:
            problems.append(str(exc))

    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        for key, value in _settings_table(data, str(path)).items():
            if key not in SETTINGS:
                problems.append(unknown_setting(key, str(path)))
                continue
            collect(key, value, str(path), True)
    environ = os.environ if env is None else env
    for key in SETTINGS:
        name = ENV_PREFIX + key.upper()
        if name in environ:
            collect(key, environ[name], f"${name}", False)
    for key, value in (overrides or {}).items():
        if value is not None:
            collect(key, value, "the command line", False)
    if problems:
        raise ConfigError("\n".join(problems))
    config = ServerConfig(**values)
    check_tls_files(config)
    broker_url(config)  # the password file, if any, is readable
    return config


def broker_url(config: ServerConfig) -> str:
    """The broker URL with the password from ``broker_password_file`` put in (read now, held
    only in memory, never printed)."""
    if config.broker_password_file is None or config.broker == "memory":
        return config.broker
    try:
        with open(config.broker_password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(
            f"'broker_password_file': cannot read {config.broker_password_file!r} ({problem}); "
            "check the path (with LoadCredential=, %d/NAME) and its permissions"
        ) from None
    if not password:
        raise ConfigError(f"'broker_password_file': {config.broker_password_file!r} is empty")
    scheme, _, rest = config.broker.partition("://")
    user = rest.rpartition("@")[0].partition(":")[0]
    host = rest.rpartition("@")[2]
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}"


def _settings_table(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The settings of a parsed file: its ``[server]`` table, or its top level when it has none.
    A key outside an existing ``[server]`` table would be silently ignored, so it is an error."""
    if "server" not in data:
        return data
    section = data["server"]
    if not isinstance(section, dict):
        raise ConfigError(
            f"'server' in {source!r} must be a table ([server] followed by settings), "
            f"not {section!r}"
        )
    for key in data:
        if key != "server":
            raise ConfigError(
                f"{key!r} in {source!r} is outside the [server] table, where it would be "
                "ignored; move it under [server] (or put every setting at top level)"
            )
    return section


def check_tls_files(config: ServerConfig) -> None:
    """Fail at start-up, naming the setting, when tls_cert or tls_key cannot be used."""
    if config.tls_cert is None or config.tls_key is None:
        return
    for key in ("tls_cert", "tls_key"):
        path = getattr(config, key)
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"{key!r}: cannot read {path!r} ({exc.strerror}); check the path and that "
                "the user running circle-server may read it"
            ) from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=config.tls_cert)
    except (ssl.SSLError, ValueError):
        raise ConfigError(
            f"'tls_cert': {config.tls_cert!r} holds no PEM certificate; give the certificate "
            "chain (e.g. Let's Encrypt's fullchain.pem)"
        ) from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            config.tls_cert,
            config.tls_key,
            password=lambda: b"",  # never prompt
        )
    except (ssl.SSLError, ValueError):
        raise ConfigError(
            f"'tls_key': {config.tls_key!r} is not the unencrypted PEM private key of the "
            "certificate in tls_cert (e.g. Let's Encrypt's privkey.pem)"
        ) from None
