"""callctl.turn.settings: the TURN config file, every problem with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.errors import UsageError
from callctl.turn.settings import (
    DEFAULT_TTL,
    load_turn_config,
    parse_server,
    parse_turn_config,
)

GOOD = """\
version: 1
server: 192.0.2.10:3478
secret_file: /etc/callctl/turn-secret
include: /etc/asterisk/callctl-turn/rtp-turn.conf
"""


def test_a_minimal_config_takes_the_defaults() -> None:
    settings, issues = parse_turn_config(GOOD)
    assert issues == [] and settings is not None
    assert settings.server == "192.0.2.10:3478"
    assert settings.secret_file == Path("/etc/callctl/turn-secret")
    assert settings.include == Path("/etc/asterisk/callctl-turn/rtp-turn.conf")
    assert (settings.user, settings.ttl) == ("asterisk", DEFAULT_TTL)


def test_user_ttl_and_a_hostname_without_port() -> None:
    text = GOOD.replace("192.0.2.10:3478", "turn.example.org") + "user: gw1\nttl: 3600\n"
    settings, issues = parse_turn_config(text)
    assert issues == [] and settings is not None
    assert (settings.host, settings.port, settings.user, settings.ttl) == (
        "turn.example.org",
        3478,
        "gw1",
        3600,
    )


def test_every_problem_is_listed_with_its_line() -> None:
    text = (
        "version: 2\n"  # line 1
        "server: '[2001:db8::1]:3478'\n"  # line 2: IPv6
        "secret_file: turn-secret\n"  # line 3: relative
        "include: /etc/x/rtp.conf\n"
        "user: 'a:b'\n"  # line 5: ':' would break the REST username
        "ttl: 30\n"  # line 6: below the minimum
        "colour: blue\n"  # line 7: unknown
    )
    settings, issues = parse_turn_config(text)
    assert settings is None
    assert [i.line for i in issues] == [1, 2, 3, 5, 6, 7]
    assert "IPv6" in issues[1].message and "absolute" in issues[2].message


def test_missing_keys_and_yaml_errors() -> None:
    _, issues = parse_turn_config("version: 1\n")
    assert {i.path for i in issues} == {"server", "secret_file", "include"}
    _, issues = parse_turn_config("version: [1\n")
    assert issues and issues[0].message.startswith("YAML syntax error")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("192.0.2.1", True),
        ("192.0.2.1:5349", True),
        ("turn.example.org:3478", True),
        ("192.0.2.1:0", False),
        ("192.0.2.1:65536", False),
        ("192.0.2.1:x", False),
        ("[::1]:3478", False),
        ("999.1.1.1", False),
        ("bad host:3478", False),
        ("", False),
    ],
)
def test_server_forms(text: str, ok: bool) -> None:
    assert isinstance(parse_server(text), tuple) == ok


def test_load_raises_one_error_naming_the_first_problem(tmp_path: Path) -> None:
    path = tmp_path / "turn.yaml"
    path.write_text(GOOD.replace("version: 1", "version: 3"))
    with pytest.raises(UsageError) as err:
        load_turn_config(path)
    assert f"{path}:1:" in err.value.message and "turn check" in (err.value.hint or "")
    with pytest.raises(UsageError, match=r"TURN config .* does not exist"):
        load_turn_config(tmp_path / "absent.yaml")
