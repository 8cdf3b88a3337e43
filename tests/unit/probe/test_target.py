"""Where a probe calls: number JIDs, deployed-gateway settings, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.errors import StateError, UsageError
from callctl.probe import target


@pytest.mark.parametrize(
    ("to", "jid"),
    [
        ("+15550100100", "+15550100100@gw.localhost"),
        ("5550100100", "5550100100@gw.localhost"),
        ("+1555@other.example", "+1555@other.example"),
    ],
)
def test_number_jid(to: str, jid: str) -> None:
    assert target.number_jid(to, "gw.localhost") == jid


@pytest.mark.parametrize("to", ["", "+", "12a", "+١٢٣", "1" * 21, "${EXTEN}"])
def test_number_jid_refuses_what_is_not_a_number(to: str) -> None:
    with pytest.raises(UsageError):
        target.number_jid(to, "gw.localhost")


def test_deployed_settings_need_server_jid_to_and_media_address() -> None:
    with pytest.raises(UsageError, match="server, jid, to, media_address"):
        target.from_settings({})


def test_deployed_password_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"server": "xmpp.example.org:5222", "jid": "probe@example.org", "to": "+15550100100"}
    base |= {"gateway_domain": "gw.example.org", "media_address": "192.0.2.10"}
    monkeypatch.delenv(target.PASSWORD_ENV, raising=False)
    with pytest.raises(UsageError, match="password"):
        target.from_settings(base)
    monkeypatch.setenv(target.PASSWORD_ENV, "s3cret")
    r = target.from_settings(base)
    assert (r.server, r.password, r.to) == (
        ("xmpp.example.org", 5222),
        "s3cret",
        "+15550100100@gw.example.org",
    )
    assert not r.plaintext
    pw = tmp_path / "pw"
    pw.write_text("fromfile\n")
    assert target.from_settings({**base, "password_file": str(pw)}).password == "fromfile"


def test_a_deployed_gateway_names_its_websocket_for_the_browser_which_runs_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(target.PASSWORD_ENV, "s3cret")
    base = {"server": "xmpp.example.org:5222", "jid": "probe@example.org"}
    base |= {"to": "+1555@gw.example.org", "media_address": "192.0.2.10"}
    assert target.from_settings(base).websocket is None  # auto then takes builtin
    path = tmp_path / "probe.yaml"
    path.write_text("websocket: wss://xmpp.example.org/xmpp-websocket\n")
    r = target.from_settings(base | target.read_config(path))
    assert (r.websocket, r.netns) == ("wss://xmpp.example.org/xmpp-websocket", "")


def test_a_config_file_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text("server: a:1\npasword_file: x\n")
    with pytest.raises(UsageError, match="unknown keys"):
        target.read_config(path)


def test_no_jingle_sandbox_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path))
    with pytest.raises(StateError, match="no Jingle sandbox"):
        target.from_sandbox("default", None)
