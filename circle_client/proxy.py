"""Reaching a Circle server through a SOCKS5 proxy (Tor): which proxy, and checked early.

``circle --proxy socks5h://127.0.0.1:9050`` or ``ALL_PROXY=socks5h://127.0.0.1:9050``: every
connection then goes through the proxy, and with ``socks5h`` the proxy resolves the server's
name too, so neither the server nor the local network learns the user's address or which
server they look up. ``.onion`` invites need ``socks5h``. websockets does the SOCKS handshake
(with python-socks); this module only decides the URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from protocol.errors import CircleError

SCHEMES = ("socks5h", "socks5")
ENV_NAMES = ("ALL_PROXY", "all_proxy")


class ProxySettingError(CircleError):
    """The proxy address cannot be used; the message says what to write instead."""


def check_proxy(url: str) -> str:
    """``url`` if it names a SOCKS5 proxy with a host and port; ProxySettingError if not."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname or port is None:
        raise ProxySettingError(
            f"The proxy {shown(url)!r} is not a SOCKS5 address. Write it as "
            "socks5h://HOST:PORT, e.g. socks5h://127.0.0.1:9050 for Tor."
        )
    return url.strip()


def proxy_from_environment(env: Mapping[str, str] | None = None) -> str | None:
    """A SOCKS5 proxy from ``ALL_PROXY``, or None. Other kinds of proxy there (``http://``)
    are for other programs and are not used."""
    environ = os.environ if env is None else env
    for name in ENV_NAMES:
        value = environ.get(name, "").strip()
        if value and urlsplit(value).scheme.lower() in SCHEMES:
            return check_proxy(value)
    return None


def shown(url: str) -> str:
    """The proxy URL without any password, for messages."""
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    return url.strip().replace(f":{parts.password}@", ":****@", 1)
