"""The Jingle sandbox's pure parts: rendered Asterisk and prosody configs, the demo routing
config, and what `status --json` shows (demo passwords yes, other secrets no)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from callctl.routing.config import load_config
from callctl.sandbox import jingle, render
from callctl.sandbox.prosody import ComponentHost, render_config

XMPP_STATE: dict[str, Any] = {
    "c2s": "127.0.0.1:5222",
    "websocket": "ws://127.0.0.1:5280/xmpp-websocket",
    "namespace_c2s": "10.213.0.5:5222",
    "namespace_websocket": "ws://10.213.0.5:5280/xmpp-websocket",
    "domain": "localhost",
    "gateway_domain": "gw.localhost",
    "accounts": [
        {"jid": "alice@localhost", "password": "pa"},
        {"jid": "bob@localhost", "password": "pb"},
    ],
    "echo_number": jingle.ECHO_NUMBER,
    "silent_number": jingle.SILENT_NUMBER,
    "component": "127.0.0.1:5347",
    "component_secret_file": "/x/component.secret",
    "asterisk_jid": "asterisk@localhost/asterisk",
    "prosody_root": "/x/prosody",
    "prosody_pid": 42,
    "routing_config": "/x/routing.yaml",
    "netns": {
        "name": "callctl-sb-default",
        "host_link": "csb1h",
        "ns_link": "csb1n",
        "subnet": "10.213.0.4/30",
        "host_addr": "10.213.0.5",
        "ns_addr": "10.213.0.6",
    },
}


def _vars(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    base = {
        "prefix": tmp_path,
        "etc_dir": tmp_path,
        "lib_dir": tmp_path,
        "data_dir": tmp_path,
        "spool_dir": tmp_path,
        "run_dir": tmp_path,
        "log_dir": tmp_path,
        "cache_dir": tmp_path,
        "bind_address": "127.0.0.1",
        "http_port": 1,
        "ami_port": 2,
        "sip_port": 5060,
        "rtp_start": 10000,
        "rtp_end": 10200,
        "ari_user": "u",
        "ari_password": "p",
        "ami_user": "u",
        "ami_secret": "s",
        "trunks": [],
        "phones": [],
        "stasis_app": "callctl",
        "jingle": False,
    }
    return {**base, **extra}


def test_without_jingle_xmpp_and_motif_are_empty_and_rtp_has_no_ice_rules(tmp_path: Path) -> None:
    files = render.render_all(_vars(tmp_path))
    assert "type = client" not in files["xmpp.conf"]
    assert "transport = ice-udp" not in files["motif.conf"]
    assert "ice_permit" not in files["rtp.conf"]


def test_the_jingle_sandbox_renders_res_xmpp_chan_motif_ice_rules_and_the_demo_trunk(
    tmp_path: Path,
) -> None:
    trunks, phones = jingle.demo_trunks(5060)
    asterisk_vars = {
        "xmpp": {
            "connection": "gateway",
            "port": 5222,
            "username": "asterisk@localhost/asterisk",
            "secret": "abc",
            "endpoint": jingle.MOTIF_ENDPOINT,
        },
        "ice_permit": "10.213.0.4/30",
        "extra_transports": [{"name": "transport-demo", "host": "127.0.0.2", "port": 5070}],
    }
    files = render.render_all(
        _vars(tmp_path, jingle=True, trunks=trunks, phones=phones, **asterisk_vars)
    )
    xmpp = files["xmpp.conf"]
    assert "[gateway]" in xmpp and "username = asterisk@localhost/asterisk" in xmpp
    assert "serverhost = 127.0.0.1" in xmpp and "secret = abc" in xmpp
    motif = files["motif.conf"]
    assert "[xmpp-gw]" in motif and "context = from-jingle" in motif
    assert "connection = gateway" in motif
    rtp = files["rtp.conf"].splitlines()
    # The last matching rule wins: everything denied, then only the sandbox's /30 permitted.
    assert rtp[-3:] == ["ice_deny = 0.0.0.0/0", "ice_deny = ::/0", "ice_permit = 10.213.0.4/30"]
    pjsip = files["pjsip.conf"]
    assert "[transport-demo]" in pjsip and "bind = 127.0.0.2:5070" in pjsip
    demo = pjsip.split("[demo]", 1)[1]
    assert "transport = transport-demo" in demo and "contact = sip:127.0.0.1:5060" in demo
    assert "context = demo-phone" in pjsip and "match = 127.0.0.2" in pjsip
    assert "noload = res_xmpp.so" not in files["modules.conf"]


def test_the_demo_dialplan_echoes_one_number_and_rings_the_other_for_ever() -> None:
    text = jingle.dialplan()
    assert f"exten => {jingle.ECHO_NUMBER},1,Answer()" in text and "Echo()" in text
    assert f"exten => {jingle.SILENT_NUMBER},1,Ringing()" in text
    assert text.count("Answer()") == 1


def test_the_demo_routing_config_is_valid_and_reaches_both_demo_numbers(tmp_path: Path) -> None:
    from callctl.routing import decide

    path = tmp_path / "routing.yaml"
    path.write_text(jingle.routing_config(XMPP_STATE))
    config = load_config(path)
    assert config.gateway is not None and config.gateway.domain == "gw.localhost"
    for number in (jingle.ECHO_NUMBER, jingle.SILENT_NUMBER):
        for caller in ("alice@localhost/probe", "bob@localhost/x"):
            d = decide.outbound(config, caller, number, {})
            assert d.allowed and d.trunks == (jingle.DEMO_TRUNK,), d
            assert d.dial_strings == (f"PJSIP/{number}@{jingle.DEMO_TRUNK}",), d.dial_strings
    stranger = decide.outbound(config, "mallory@localhost/x", jingle.ECHO_NUMBER, {})
    assert not stranger.allowed


def test_status_shows_how_to_call_but_not_the_component_or_asterisk_secrets() -> None:
    view = jingle.public_view(XMPP_STATE)
    assert view["version"] == 1
    for key in ("c2s", "websocket", "domain", "gateway_domain", "accounts", "echo_number"):
        assert view[key] == XMPP_STATE[key]
    assert view["echo_jid"] == f"{jingle.ECHO_NUMBER}@gw.localhost"
    assert view["namespace_c2s"] == "10.213.0.5:5222"
    assert view["component_secret_file"] == XMPP_STATE["component_secret_file"]
    text = repr(view)
    assert "asterisk_jid" not in text and "prosody_pid" not in text


def test_prosody_config_is_loopback_only_with_the_component() -> None:
    text = render_config(
        Path("/s/prosody"), 5222, "localhost", 5280, ComponentHost("gw.localhost", 5347, "ab12")
    )
    assert 'c2s_interfaces = { "127.0.0.1" }' in text
    assert 'component_interfaces = { "127.0.0.1" }' in text
    assert 'http_interfaces = { "127.0.0.1" }' in text and '"websocket"' in text
    assert text.endswith('Component "gw.localhost"\n    component_secret = "ab12"\n')
    assert "s2s_ports = { }" in text
    # A client in the sandbox's namespace reaches c2s and WebSocket on the veth's root end;
    # the component stays on loopback.
    inside = render_config(
        Path("/s"), 1, "localhost", 2, ComponentHost("gw.localhost", 3, "ab"), ("10.213.0.5",)
    )
    assert 'c2s_interfaces = { "127.0.0.1"; "10.213.0.5" }' in inside
    assert 'http_interfaces = { "127.0.0.1"; "10.213.0.5" }' in inside
    assert 'component_interfaces = { "127.0.0.1" }' in inside


@pytest.mark.parametrize("bad", ['gw".x', "gw\nx", "gw\\x"])
def test_prosody_config_refuses_values_that_would_end_a_lua_string(bad: str) -> None:
    with pytest.raises(ValueError):
        render_config(Path("/s"), 1, bad)


@pytest.mark.parametrize("dtls", [True, False])
def test_the_gateway_advertises_dtls_only_when_the_build_does_it(
    tmp_path: Path, dtls: bool
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(jingle.routing_config({**XMPP_STATE, "dtls": dtls}))
    gateway = load_config(path).gateway
    assert gateway is not None and gateway.dtls is dtls


def test_a_missing_prosody_is_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callctl.errors import ExitStatus
    from callctl.sandbox.prosody import ProsodyServer

    server = ProsodyServer(tmp_path, 5222, "localhost")
    server.write_config()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(jingle.XmppServerError, match="prosodyctl not found") as info:
        jingle._register(server, "alice", "pw")
    assert info.value.status == ExitStatus.UNAVAILABLE
    assert info.value.hint is not None and "install-deps" in info.value.hint
