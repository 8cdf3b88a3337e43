"""The NAT rig's pure parts: nftables rulesets per kind, LAN subnet choice, pair typing, the
coturn config."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.jingle.netns import NetnsError, RigNet
from support.nat import pairs, topology
from support.nat.coturn import config

IFS = {"wan_if": "cjr1n1", "lan_if": "cnt1r1", "public": "10.213.0.2", "turn": "10.213.0.1"}


def test_port_restricted_keeps_ports_and_lets_only_replies_in() -> None:
    text = topology.rules("port-restricted", **IFS)
    assert 'oifname "cjr1n1" snat to 10.213.0.2\n' in text
    assert "random" not in text
    assert 'iifname "cnt1r1" oifname "cjr1n1" accept' in text
    assert 'iifname "cjr1n1" oifname "cnt1r1" ct state established,related accept' in text
    assert "policy drop" in text.split("chain input")[1]


def test_symmetric_randomises_every_mapping() -> None:
    assert "snat to 10.213.0.2 fully-random" in topology.rules("symmetric", **IFS)


def test_udp_blocked_lets_only_tcp_to_the_turn_port_out() -> None:
    text = topology.rules("udp-blocked", **IFS)
    assert f"ip daddr 10.213.0.1 tcp dport {topology.TURN_PORT} accept" in text
    assert 'iifname "cnt1r1" oifname "cjr1n1" accept' not in text


def test_one_to_one_maps_the_public_address_both_ways_and_lets_replies_in() -> None:
    text = topology.rules(
        topology.ASTERISK_1TO1, wan_if="w", lan_if="l", public="10.214.0.1", turn="10.213.0.1"
    )
    assert 'iifname "l" ip daddr 10.214.0.1 dnat to 10.213.0.1' in text
    assert 'oifname "l" ip saddr 10.213.0.1 snat to 10.214.0.1' in text
    assert 'iifname "l" oifname "w" ct status dnat accept' in text
    assert 'iifname "l" oifname "w" ct state established,related accept' in text


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="full-cone"):
        topology.rules("full-cone", **IFS)


def test_the_lan_is_the_first_free_slash_30_of_the_pool() -> None:
    net = ipaddress.IPv4Network
    assert topology.pick_lan([]) == net("10.214.0.0/30")
    used = [net("10.214.0.0/30"), net("192.0.2.0/24")]
    assert topology.pick_lan(used) == net("10.214.0.4/30")


def test_a_machine_route_over_the_pool_is_refused() -> None:
    with pytest.raises(NetnsError, match="overlaps"):
        topology.pick_lan([ipaddress.IPv4Network("10.0.0.0/8")])


def _pair(local: str, remote: str) -> Any:
    return SimpleNamespace(
        local_candidate=SimpleNamespace(type=local), remote_candidate=SimpleNamespace(type=remote)
    )


def test_client_pair_is_component_one() -> None:
    assert pairs.client_pair({1: _pair("relay", "host"), 2: _pair("host", "host")}) == "relay/host"
    assert pairs.client_pair({}) is None


def _session(status: str, nominated: str, local: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "status": status,
        "nominations": [{"pair": "[2] 10.213.0.1:4001-->10.214.0.2:5001"}, {"pair": nominated}],
        "candidates": {"local_list": local},
    }


HOST = [{"addr": "10.213.0.1:4000", "type": "host"}]


@pytest.mark.parametrize(
    ("remote", "want"),
    [
        ("10.214.0.2:5000", "host/host"),
        ("10.213.0.2:6000", "host/srflx"),
        ("10.213.0.1:50000", "host/relay"),
        ("10.213.0.2:7777", "host/prflx"),
    ],
)
def test_asterisk_pair_types_the_remote_by_what_the_client_signalled(
    remote: str, want: str
) -> None:
    signalled = {
        "10.214.0.2:5000": "host",
        "10.213.0.2:6000": "srflx",
        "10.213.0.1:50000": "relay",
    }
    report = {"sessions": [_session("Success", f"[1] 10.213.0.1:4000-->{remote}", HOST)]}
    assert pairs.asterisk_pair(report, signalled) == want


def test_asterisk_pair_is_none_without_a_successful_session() -> None:
    failed = _session("All ICE checklists failed", "[1] 10.213.0.1:4000-->1.2.3.4:5", HOST)
    assert pairs.asterisk_pair({"sessions": [failed]}, {}) is None
    assert pairs.asterisk_pair({"sessions": []}, {}) is None


def test_coturn_relays_only_to_the_rig_and_uses_the_shared_secret(tmp_path: Path) -> None:
    wan = RigNet(
        "cjr-1-1", "h", "n", ipaddress.IPv4Network("10.213.0.4/30"), "10.213.0.5", "10.213.0.6"
    )
    text = config(wan, tmp_path, "s3cret").splitlines()
    assert "listening-ip=10.213.0.5" in text and "relay-ip=10.213.0.5" in text
    assert "use-auth-secret" in text and "static-auth-secret=s3cret" in text
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in text
    assert "allowed-peer-ip=10.213.0.4-10.213.0.7" in text
    assert f"userdb={tmp_path / 'turndb'}" in text
