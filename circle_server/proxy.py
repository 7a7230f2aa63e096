"""Who the client is behind a reverse proxy: PROXY protocol v1/v2 and forwarding headers.

Sans-I/O: bytes and header values in, an address string out. Only peers listed in
``trusted_proxies`` may speak for a client; from anyone else the socket's own address is the
client's, whatever the request says. The address found here is hashed by the registry the moment
it arrives and is never logged (F19, S8).

PROXY protocol: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt (HAProxy's
``send-proxy`` and ``send-proxy-v2``). Forwarding headers: ``X-Forwarded-For`` and RFC 7239
``Forwarded``, read right to left, skipping trusted proxies, so that values a client wrote
itself (to the left of what the proxies appended) are never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.errors import CircleError

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX_BYTES = 107  # the longest v1 line, CRLF included (proxy-protocol.txt 2.1)
V2_MAX_BYTES = 16 + 2048  # header plus a generous bound on addresses and TLVs
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyHeaderError(CircleError):
    """A trusted proxy sent a PROXY header that cannot be parsed; the connection is dropped."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed PROXY header: how many bytes it took and the client's address (None for the
    proxy's own connections, such as health checks: v2 LOCAL or v1 UNKNOWN)."""

    length: int
    client: str | None


NOT_PROXY = ProxyHeader(0, None)
"""What :func:`parse_proxy_header` returns when the stream does not start with a PROXY header."""


def parse_address(text: str) -> Address | None:
    """An IP address from a socket, a header entry or a config line, or None. IPv4-mapped IPv6
    addresses become IPv4, so one person has one address whichever way the socket sees them."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalise(text: str) -> str:
    """The canonical text of an address (hash input): unparseable text is kept as it is."""
    address = parse_address(text)
    return text if address is None else str(address)


class TrustedProxies:
    """The ``trusted_proxies`` setting: addresses and CIDR networks allowed to name clients."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(parse_network(e) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, text: str) -> bool:
        address = parse_address(text)
        return address is not None and any(address in net for net in self.networks)


def parse_network(entry: str) -> Network:
    """One ``trusted_proxies`` entry; raises ValueError with the entry in plain words."""
    text = entry.strip()
    address = parse_address(text.split("/", 1)[0])
    if address is None:
        raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8)")
    if "/" in text:
        return ipaddress.ip_network(f"{address}/{text.split('/', 1)[1]}", strict=False)
    return ipaddress.ip_network(address)


# ---------------------------------------------------------------------------- PROXY protocol
def parse_proxy_header(data: bytes) -> ProxyHeader | None:
    """Parse a PROXY v1 or v2 header at the start of ``data``.

    Returns None while more bytes are needed to decide, :data:`NOT_PROXY` when the stream is
    not a PROXY header (plain HTTP from the proxy, e.g. a health check), or the header.
    Raises :class:`ProxyHeaderError` for a header that starts right but is malformed."""
    if not data:
        return None
    if data[:1] == b"\r":
        if len(data) < len(V2_SIGNATURE):
            return None if V2_SIGNATURE.startswith(data) else NOT_PROXY
        if not data.startswith(V2_SIGNATURE):
            return NOT_PROXY
        return _parse_v2(data)
    if data[:1] == b"P":
        if len(data) < len(V1_PREFIX):
            return None if V1_PREFIX.startswith(data) else NOT_PROXY
        if not data.startswith(V1_PREFIX):
            return NOT_PROXY  # e.g. "POST /..."
        return _parse_v1(data)
    return NOT_PROXY


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES:
            raise ProxyHeaderError("PROXY v1 line longer than 107 bytes")
        return None
    fields = data[:end].decode("ascii", "replace").split(" ")
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        return ProxyHeader(end + 2, None)
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("PROXY v1 line is not 'PROXY TCP4|TCP6 SRC DST SPORT DPORT'")
    source = parse_address(fields[2])
    want = ipaddress.IPv4Address if fields[1] == "TCP4" else ipaddress.IPv6Address
    if source is None or not isinstance(ipaddress.ip_address(fields[2]), want):
        raise ProxyHeaderError("PROXY v1 source is not an address of the stated family")
    return ProxyHeader(end + 2, str(source))


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < 16:
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    family = data[13] >> 4
    length = int.from_bytes(data[14:16], "big")
    if version != 2 or command not in (0, 1):
        raise ProxyHeaderError("PROXY v2 header with an unknown version or command")
    if 16 + length > V2_MAX_BYTES:
        raise ProxyHeaderError("PROXY v2 header longer than 2 KiB")
    if len(data) < 16 + length:
        return None
    body = data[16 : 16 + length]
    if command == 0:  # LOCAL: the proxy's own connection (a health check)
        return ProxyHeader(16 + length, None)
    if family == 1:  # AF_INET: 4 + 4 + 2 + 2 bytes
        if length < 12:
            raise ProxyHeaderError("PROXY v2 IPv4 addresses are truncated")
        return ProxyHeader(16 + length, str(ipaddress.IPv4Address(body[:4])))
    if family == 2:  # AF_INET6: 16 + 16 + 2 + 2 bytes
        if length < 36:
            raise ProxyHeaderError("PROXY v2 IPv6 addresses are truncated")
        source = parse_address(str(ipaddress.IPv6Address(body[:16])))
        return ProxyHeader(16 + length, str(source))
    return ProxyHeader(16 + length, None)  # UNSPEC or a UNIX socket: no client address


# ---------------------------------------------------------------------------- headers
def forwarded_chain(header: str, values: Iterable[str]) -> list[str]:
    """The hops a forwarding header lists, leftmost (claimed client) first.

    ``values`` are the header's lines in the order received; ``header`` is
    ``x-forwarded-for`` or ``forwarded`` (RFC 7239: only the ``for=`` parameter counts)."""
    hops: list[str] = []
    for value in values:
        for element in value.split(","):
            if header == "forwarded":
                found = ""
                for pair in element.split(";"):
                    key, _, raw = pair.strip().partition("=")
                    if key.strip().lower() == "for":
                        found = raw.strip()
                hops.append(_strip_port(found.strip('"')))
            else:
                hops.append(_strip_port(element.strip()))
    return hops


def _strip_port(hop: str) -> str:
    """``[2001:db8::1]:4711`` -> ``2001:db8::1``; ``192.0.2.1:80`` -> ``192.0.2.1``."""
    if hop.startswith("["):
        return hop[1:].split("]", 1)[0]
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def client_address(peer: str, chain: list[str], trusted: TrustedProxies) -> str:
    """The client's address: walk from ``peer`` leftwards through ``chain`` while the hop in
    hand is a trusted proxy; the first untrusted hop is the client. A malformed hop ends the
    walk at the last trusted one, so a garbled header can only lump clients, never split them."""
    current = normalise(peer)
    for hop in reversed(chain):
        if not trusted.trusts(current):
            break
        if parse_address(hop) is None:
            break
        current = normalise(hop)
    return current
