"""`callctl sandbox up --trunk/--phone`: strict parsing (the values end up in pjsip.conf)."""

import pytest
from callctl.errors import UsageError
from callctl.sandbox.cli import parse_phone, parse_trunk


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("carrier-a", "expected NAME=HOST:PORT"),
        ("carrier-a=example.org:5060", "not an IP address"),
        ("carrier-a=127.0.0.3:70000", "not a port number"),
        ("1bad=127.0.0.3:5060", "expected NAME=HOST:PORT"),
        ("a;b=127.0.0.3:5060", "expected NAME=HOST:PORT"),
    ],
)
def test_sandbox_trunk_option_is_validated(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_trunk(value)


def test_sandbox_trunk_and_phone_options_parse() -> None:
    assert parse_trunk("carrier-a=127.0.0.3:5070") == {
        "name": "carrier-a",
        "host": "127.0.0.3",
        "port": 5070,
    }
    assert parse_phone("alice=127.0.0.2:from-jingle") == {
        "name": "alice",
        "host": "127.0.0.2",
        "context": "from-jingle",
    }
    with pytest.raises(UsageError, match="context"):
        parse_phone("alice=127.0.0.2:from jingle")
