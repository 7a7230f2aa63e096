"""Who the client is behind a proxy (circle_server/proxy.py): parsers and the trust walk."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circle_server.proxy import (
    NOT_PROXY,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    TrustedProxies,
    client_address,
    forwarded_chain,
    parse_network,
    parse_proxy_header,
)

TRUSTED = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"])


def v2(command: int, family: int, body: bytes) -> bytes:
    return (
        V2_SIGNATURE
        + bytes([0x20 | command, family << 4 | 1])
        + len(body).to_bytes(2, "big")
        + body
    )


def test_v1_tcp4_and_tcp6() -> None:
    line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n"
    assert parse_proxy_header(line) == ProxyHeader(
        len(line) - len(b"GET / HTTP/1.1\r\n"), "192.0.2.7"
    )
    six = b"PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n"
    assert parse_proxy_header(six) == ProxyHeader(len(six), "2001:db8::7")
    assert parse_proxy_header(b"PROXY UNKNOWN\r\n") == ProxyHeader(15, None)


def test_v2_ipv4_ipv6_and_local() -> None:
    four = ipaddress.IPv4Address("192.0.2.7").packed + bytes(4) + bytes(4)
    assert parse_proxy_header(v2(1, 1, four) + b"GET") == ProxyHeader(28, "192.0.2.7")
    six = ipaddress.IPv6Address("2001:db8::7").packed + bytes(16) + bytes(4)
    assert parse_proxy_header(v2(1, 2, six)) == ProxyHeader(52, "2001:db8::7")
    mapped = ipaddress.IPv6Address("::ffff:192.0.2.9").packed + bytes(16) + bytes(4)
    assert parse_proxy_header(v2(1, 2, mapped)) == ProxyHeader(52, "192.0.2.9")
    assert parse_proxy_header(v2(0, 0, b"")) == ProxyHeader(16, None)  # a health check
    with_tlvs = four + b"\x04\x00\x02ok"
    assert parse_proxy_header(v2(1, 1, with_tlvs)) == ProxyHeader(16 + len(with_tlvs), "192.0.2.7")


def test_plain_http_is_not_a_proxy_header_and_partial_headers_wait() -> None:
    assert parse_proxy_header(b"GET / HTTP/1.1\r\n") is NOT_PROXY
    assert parse_proxy_header(b"POST /x HTTP/1.1\r\n") is NOT_PROXY
    assert parse_proxy_header(b"PROX") is None
    assert parse_proxy_header(b"PROXY TCP4 192.0.2.7") is None
    assert parse_proxy_header(V2_SIGNATURE[:5]) is None
    assert parse_proxy_header(v2(1, 1, bytes(12))[:20]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP4 not-an-address 198.51.100.1 1 2\r\n",
        b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",  # the wrong family
        b"PROXY TCP4 192.0.2.7\r\n",
        b"PROXY " + b"x" * 120,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),  # truncated addresses
        V2_SIGNATURE + b"\x21\x11\xff\xff",  # longer than allowed
    ],
)
def test_malformed_headers_are_errors(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(data)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_documented_outcome(data: bytes) -> None:
    try:
        result = parse_proxy_header(data)
    except ProxyHeaderError:
        return
    assert result is None or isinstance(result, ProxyHeader)


def test_forwarding_headers() -> None:
    assert forwarded_chain("x-forwarded-for", ["203.0.113.9, 10.0.0.2", "10.0.0.3"]) == [
        "203.0.113.9",
        "10.0.0.2",
        "10.0.0.3",
    ]
    value = 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'
    assert forwarded_chain("forwarded", [value]) == ["192.0.2.60", "2001:db8:cafe::17"]
    assert forwarded_chain("x-forwarded-for", ["192.0.2.1:8080"]) == ["192.0.2.1"]


def test_the_walk_stops_at_the_first_untrusted_hop() -> None:
    chain = ["198.51.100.66", "203.0.113.9", "10.0.0.2"]  # forged, real client, inner proxy
    assert client_address("127.0.0.1", chain, TRUSTED) == "203.0.113.9"


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert client_address("203.0.113.9", ["198.51.100.66"], TRUSTED) == "203.0.113.9"
    assert client_address("203.0.113.9", [], TrustedProxies([])) == "203.0.113.9"


def test_a_trusted_peer_without_a_header_is_itself_and_garbage_lumps() -> None:
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", ["unknown"], TRUSTED) == "127.0.0.1"
    assert client_address("::ffff:127.0.0.1", ["192.0.2.1"], TRUSTED) == "192.0.2.1"


def test_trusted_proxy_entries() -> None:
    assert str(parse_network("10.1.2.3/8")) == "10.0.0.0/8"
    assert TrustedProxies(["::ffff:127.0.0.1"]).trusts("127.0.0.1")
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address"):
        parse_network("proxy.local")
