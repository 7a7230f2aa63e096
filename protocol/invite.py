"""Invites: one copy-pasteable string naming server, circle, secret and facilitator (F2).

Format (PROTOCOL.md 4)::

    circle://HOST:PORT[/PREFIX]/CIRCLE_ID#SECRET_PART        (plain ws://, for localhost)
    circles://HOST[:PORT][/PREFIX]/CIRCLE_ID#SECRET_PART     (wss://)

``PREFIX`` is the server's websocket path (``websocket_path``, e.g. ``/circle`` behind a proxy
that serves other things too); without it the websocket is at ``/``.

``CIRCLE_ID`` is the 16-byte circle id in unpadded base64url. ``SECRET_PART`` is unpadded
base64url of ``secret(32) || facilitator_fingerprint(16) || suite(1) || check(4)`` where
``suite`` is the circle's cipher suite (PROTOCOL.md 9.1; a member refuses keys in a weaker one)
and ``check`` is a labelled BLAKE2b-32 over everything before it, so typos are caught before
any network traffic.
The part after ``#`` is never sent to the server.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import string
from dataclasses import dataclass

from protocol import limits
from protocol.crypto import Random, hash_bytes, system_random
from protocol.errors import InviteError

CHECK_BYTES = 4
_SECRET_PART_BYTES = limits.SECRET_BYTES + limits.FINGERPRINT_BYTES + 1 + CHECK_BYTES
SUITES = (1, 2)
"""Cipher suites an invite may name (``protocol.kem.Suite``); 2, the hybrid, is the default."""
_SCHEMES = {"circle": "ws", "circles": "wss"}
_TYPO = (
    "The invite has a typo somewhere (its check code does not match). Copy it again rather "
    "than typing it."
)
_B64_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
_PATH_ALPHABET = frozenset(string.ascii_letters + string.digits + "-._~/")


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Unpadded base64url -> bytes; raises ValueError on anything else."""
    if not text.isascii() or any(c in text for c in "=+/ \n\t"):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64encode(data) != text:  # reject non-canonical spellings of the same bytes
        raise ValueError("not canonical base64url")
    return data


def _check(
    host: str,
    port: int,
    tls: bool,
    circle_id: bytes,
    secret: bytes,
    fpr: bytes,
    path: str,
    suite: int,
) -> bytes:
    # The path joins the check only when there is one.
    where = f"{host}:{port}:{int(tls)}" + (f":{path}" if path != "/" else "")
    data = where.encode() + circle_id + secret + fpr + bytes([suite])
    return hash_bytes("invite-check", data, CHECK_BYTES)


@dataclass(frozen=True, slots=True)
class Invite:
    """A parsed invite. ``secret`` never leaves the client."""

    host: str
    port: int
    tls: bool
    circle_id: bytes
    secret: bytes
    facilitator_fingerprint: bytes
    path: str = "/"
    """The server's websocket path: ``/`` or a prefix such as ``/circle`` (no trailing slash)."""
    suite: int = 2
    """The circle's cipher suite (PROTOCOL.md 9.1)."""

    @classmethod
    def create(
        cls,
        server_url: str,
        facilitator_fingerprint: bytes,
        rng: Random = system_random,
        circle_id: bytes | None = None,
        suite: int = 2,
    ) -> Invite:
        """A fresh invite for a new circle on ``server_url`` (ws://... or wss://...)."""
        host, port, tls = parse_server_url(server_url)
        return cls(
            host=host,
            port=port,
            tls=tls,
            circle_id=circle_id if circle_id is not None else rng(limits.ID_BYTES),
            secret=rng(limits.SECRET_BYTES),
            facilitator_fingerprint=facilitator_fingerprint,
            path=parse_server_path(server_url),
            suite=suite,
        )

    @property
    def server_url(self) -> str:
        scheme = "wss" if self.tls else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path}"

    def __str__(self) -> str:
        scheme = "circles" if self.tls else "circle"
        host = f"[{self.host}]" if ":" in self.host else self.host
        check = _check(
            self.host,
            self.port,
            self.tls,
            self.circle_id,
            self.secret,
            self.facilitator_fingerprint,
            self.path,
            self.suite,
        )
        suite = bytes([self.suite])
        secret_part = b64encode(self.secret + self.facilitator_fingerprint + suite + check)
        prefix = self.path.rstrip("/")
        return f"{scheme}://{host}:{self.port}{prefix}/{b64encode(self.circle_id)}#{secret_part}"

    def __repr__(self) -> str:  # never print the secret
        return f"Invite(server={self.server_url!r}, circle={b64encode(self.circle_id)!r})"

    @classmethod
    def parse(cls, text: str) -> Invite:
        """Parse an invite string, raising InviteError with a message that says what to do."""
        text = "".join(text.split())  # pasted invites often carry line breaks or spaces
        if not text:
            raise InviteError("The invite is empty. Paste the whole invite you were given.")
        scheme, sep, rest = text.partition("://")
        if not sep or scheme.lower() not in _SCHEMES:
            raise InviteError(
                "This does not look like a Circle invite: it should start with circle:// or "
                "circles://. Ask the facilitator to send it again."
            )
        tls = _SCHEMES[scheme.lower()] == "wss"
        location, hash_sign, secret_text = rest.partition("#")
        if not hash_sign or not secret_text:
            raise InviteError(
                "The invite is missing its secret part (after the '#'). Copy the whole invite, "
                "including everything after '#'."
            )
        address, slash, where = location.partition("/")
        prefix, _, circle_text = where.strip("/").rpartition("/")
        if not slash or not circle_text:
            raise InviteError("The invite has no circle id. Copy the whole invite again.")
        try:
            path = _check_path("/" + prefix)
        except ValueError:
            raise InviteError(
                "The server path in the invite is not valid. Copy the whole invite again."
            ) from None
        try:
            host, port = _split_address(address, tls)
        except ValueError:
            raise InviteError(
                "The server address in the invite is not valid. Copy the whole invite again."
            ) from None
        if not _B64_ALPHABET.issuperset(circle_text + secret_text):
            raise InviteError(
                "The invite has characters that do not belong in it. Copy it again exactly."
            )
        if len(circle_text) != len(b64encode(bytes(limits.ID_BYTES))) or len(secret_text) != len(
            b64encode(bytes(_SECRET_PART_BYTES))
        ):
            raise InviteError(
                "The invite looks cut off or has extra characters. Copy the whole invite again."
            )
        try:
            circle_id = b64decode(circle_text)
            secret_blob = b64decode(secret_text)
        except (ValueError, binascii.Error):
            raise InviteError(_TYPO) from None
        secret = secret_blob[: limits.SECRET_BYTES]
        fpr = secret_blob[limits.SECRET_BYTES : limits.SECRET_BYTES + limits.FINGERPRINT_BYTES]
        suite = secret_blob[-CHECK_BYTES - 1]
        check = secret_blob[-CHECK_BYTES:]
        if check != _check(host, port, tls, circle_id, secret, fpr, path, suite):
            raise InviteError(_TYPO)
        if suite not in SUITES:
            raise InviteError(
                "This invite names a kind of encryption this version of Circle does not know. "
                "Update circle and try again."
            )
        return cls(host, port, tls, circle_id, secret, fpr, path, suite)


def _check_path(path: str) -> str:
    """``/`` or ``/a/b`` made of plain URL characters, without empty or dot segments."""
    path = path.rstrip("/") or "/"
    segments = path.split("/")[1:]
    if path != "/" and (
        not _PATH_ALPHABET.issuperset(path)
        or len(path) > 200
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        raise ValueError("bad path")
    return path


def _split_address(address: str, tls: bool) -> tuple[str, int]:
    default_port = 443 if tls else 80
    if address.startswith("["):
        host, _, port_text = address[1:].partition("]")
        ipaddress.IPv6Address(host)
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = address.partition(":")
    if not host or len(host) > 253:
        raise ValueError("bad host")
    if not all(c.isalnum() or c in "-._:" for c in host):
        raise ValueError("bad host")
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError("bad port")
    return host.lower(), port


def parse_server_url(url: str) -> tuple[str, int, bool]:
    """``ws://host:port`` or ``wss://host[:port]`` -> (host, port, tls)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in ("ws", "wss"):
        raise InviteError(f"Server address {url!r} must start with ws:// or wss://.")
    tls = scheme.lower() == "wss"
    try:
        host, port = _split_address(rest.split("/", 1)[0], tls)
    except ValueError:
        raise InviteError(f"Server address {url!r} is not a valid host and port.") from None
    return host, port, tls


def parse_server_path(url: str) -> str:
    """The websocket path of ``ws[s]://host[:port][/path]``: ``/`` when there is none."""
    rest = url.strip().partition("://")[2]
    _, slash, path = rest.partition("/")
    try:
        return _check_path("/" + path.split("?", 1)[0].split("#", 1)[0]) if slash else "/"
    except ValueError:
        raise InviteError(f"Server address {url!r} has a path that is not valid.") from None
