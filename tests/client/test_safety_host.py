"""Host-added risk phrases: server config -> ``server_hello`` -> the client's local check."""

from __future__ import annotations

from pathlib import Path

import pytest

from circle_client import events as ev
from circle_client.safety import risk_language
from circle_server.config import ConfigError, ServerConfig, load_config
from protocol import limits
from protocol.codec import pack
from protocol.errors import RemoteProtocolError
from protocol.frames import ServerHello, decode_frame, encode_frame
from tests.pair import Net

PHRASE = "rhoi'r gorau i bopeth"  # Welsh, "give up on everything": not in the shipped lexicons


def hello(**overrides: object) -> ServerHello:
    values: dict[str, object] = {
        "version": limits.PROTOCOL_VERSION,
        "challenge": bytes(limits.CHALLENGE_BYTES),
        "guidelines": "Be kind.",
        "crisis": "Call 116 123.",
        "max_frame": 65536,
        "lobby": True,
        "open_policy": "anyone",
    }
    values.update(overrides)
    return ServerHello(**values)  # type: ignore[arg-type]


def test_the_setting_is_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "circle-server.toml"
    path.write_text(f'[server]\nrisk_phrases = ["{PHRASE}"]\n', encoding="utf-8")
    assert load_config(path, env={}).risk_phrases == (PHRASE,)
    env = {"CIRCLE_RISK_PHRASES": "dejar de existir, nicht mehr sein"}
    assert load_config(env=env).risk_phrases == ("dejar de existir", "nicht mehr sein")
    assert ServerConfig().risk_phrases == ()


@pytest.mark.parametrize(
    "phrases",
    [
        ("x" * (limits.MAX_RISK_PHRASE + 1),),
        ("   ",),
        tuple(f"phrase {n}" for n in range(limits.MAX_RISK_PHRASES + 1)),
    ],
)
def test_bad_phrases_are_refused_with_the_key_named(phrases: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="risk_phrases"):
        ServerConfig(risk_phrases=phrases)


def test_server_hello_carries_the_phrases_and_limits_them() -> None:
    frame = hello(risk_phrases=(PHRASE, "dejar de existir"))
    decoded = decode_frame(encode_frame(frame))
    assert isinstance(decoded, ServerHello)
    assert decoded.risk_phrases == (PHRASE, "dejar de existir")
    too_many = hello().to_map() | {"t": "server_hello", "risk_phrases": ["a"] * 65}
    with pytest.raises(RemoteProtocolError):
        decode_frame(pack(too_many))


def test_the_client_checks_the_hosts_phrases_locally() -> None:
    net = Net(risk_phrases=(PHRASE,))
    peer = net.connect()
    connected = peer.last(ev.Connected)
    assert connected.risk_phrases == (PHRASE,)
    draft = "heno dw i eisiau rhoi’r gorau i bopeth"  # a curly apostrophe, as typed
    assert not risk_language(draft)
    assert risk_language(draft, connected.risk_phrases)
