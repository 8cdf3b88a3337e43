"""`callctl run --xmpp-component HOST:PORT`: the target, the secret, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.cli import Console, main
from callctl.errors import ExitStatus, UsageError
from callctl.routing import parse_config
from callctl.xmppgw.link import SECRET_ENV, component_for, component_target

BASE = """version: 1
trunks: {primary: carrier-a}
jingle: {endpoint: xmpp-gw}
policy: {allowed_destinations: ["+1"]}
"""
WITH_GATEWAY = BASE + "gateway: {domain: gw.example.org, asterisk_jid: a@example.org/x}\n"


def config(text: str):  # type: ignore[no-untyped-def]
    parsed, issues = parse_config(text)
    assert parsed is not None, issues
    return parsed


def test_not_asked_for_means_no_component() -> None:
    assert component_target(None, config(BASE), {}) is None


def test_target_and_secret() -> None:
    target = component_target("127.0.0.1:5347", config(WITH_GATEWAY), {SECRET_ENV: "s3cret"})
    assert target is not None and (target.host, target.port, target.secret) == (
        "127.0.0.1",
        5347,
        "s3cret",
    )
    assert "s3cret" not in repr(target)


@pytest.mark.parametrize(
    ("value", "text", "env", "needle"),
    [
        ("127.0.0.1:5347", BASE, {SECRET_ENV: "s"}, "gateway:"),
        ("127.0.0.1", WITH_GATEWAY, {SECRET_ENV: "s"}, "HOST:PORT"),
        ("127.0.0.1:0", WITH_GATEWAY, {SECRET_ENV: "s"}, "HOST:PORT"),
        ("127.0.0.1:5347", WITH_GATEWAY, {}, SECRET_ENV),
    ],
)
def test_errors_say_what_is_missing(
    value: str, text: str, env: dict[str, str], needle: str
) -> None:
    with pytest.raises(UsageError, match=needle.replace("$", r"\$")):
        component_target(value, config(text), env)


def test_the_component_serves_the_configured_gateway() -> None:
    settings = config(WITH_GATEWAY).gateway
    assert settings is not None
    target = component_target("127.0.0.1:5347", config(WITH_GATEWAY), {SECRET_ENV: "s"})
    assert target is not None
    link = component_for(settings, target)
    assert link.gateway.domain == "gw.example.org" and link.target is target
    assert link.gateway.config.asterisk_jid == "a@example.org/x"


def test_callctl_run_refuses_xmpp_component_without_a_gateway_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before anything connects: no Asterisk or XMPP server is needed to see it."""
    monkeypatch.setenv(SECRET_ENV, "s")
    path = tmp_path / "routing.yaml"
    path.write_text(BASE)
    status = main(["run", "--config", str(path), "--xmpp-component", "127.0.0.1:5347"], Console())
    assert status == ExitStatus.USAGE
    assert "gateway:" in capsys.readouterr().err
