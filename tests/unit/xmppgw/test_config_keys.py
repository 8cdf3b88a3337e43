"""The routing config's `gateway:` section, through the loader's line-numbered issues."""

from __future__ import annotations

import pytest
from callctl.paths import REPO_ROOT
from callctl.routing import load_config, parse_config

BASE = """version: 1
trunks: {primary: carrier-a}
jingle: {endpoint: xmpp-gw}
policy: {allowed_destinations: ["+1"]}
"""


def test_the_example_config_has_a_gateway() -> None:
    config = load_config(REPO_ROOT / "specs" / "routing.example.yaml")
    assert config.gateway is not None
    assert config.gateway.domain == "gw.localhost"
    assert config.gateway.asterisk_jid == "asterisk@localhost/asterisk"
    assert config.gateway.dtls is False


def test_no_gateway_section_means_no_gateway() -> None:
    config, issues = parse_config(BASE)
    assert issues == [] and config is not None and config.gateway is None


def test_a_valid_gateway_section() -> None:
    text = BASE + "gateway:\n  domain: gw.example.org\n  asterisk_jid: a@example.org/x\n"
    text += "  dtls: true\n"
    config, issues = parse_config(text)
    assert issues == [] and config is not None and config.gateway is not None
    assert (config.gateway.domain, config.gateway.dtls, config.gateway.line) == (
        "gw.example.org",
        True,
        6,
    )


@pytest.mark.parametrize(
    ("gateway", "line", "needle"),
    [
        ("  domain: GW_example\n  asterisk_jid: a@example.org/x\n", 6, "invalid domain"),
        ("  domain: gw.example.org\n  asterisk_jid: a@example.org\n", 7, "/resource"),
        ("  domain: gw.example.org\n  asterisk_jid: a@gw.example.org/x\n", 6, "must not be"),
        ("  domain: gw.example.org\n", 6, "asterisk_jid"),
        ("  domain: gw.example.org\n  asterisk_jid: a@b.org/x\n  secret: s\n", 8, "secret"),
    ],
)
def test_gateway_problems_name_their_line(gateway: str, line: int, needle: str) -> None:
    config, issues = parse_config(BASE + "gateway:\n" + gateway)
    assert config is None
    assert any(i.line == line and needle in i.message for i in issues), issues


def test_a_did_ringing_the_gateway_domain_is_a_loop() -> None:
    text = BASE + "gateway: {domain: gw.example.org, asterisk_jid: a@example.org/x}\n"
    text += 'dids:\n  - number: "+15550001111"\n    jids: ["+15550002222@gw.example.org"]\n'
    config, issues = parse_config(text)
    assert config is None
    assert any(i.line == 7 and "loop" in i.message for i in issues), issues
