"""Outbound and inbound decisions on the example config and small variants of it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from callctl.paths import REPO_ROOT
from callctl.routing import (
    Cause,
    InboundDecision,
    OutboundDecision,
    Reason,
    RingMode,
    RoutingConfig,
    caller_key,
    inbound,
    load_config,
    outbound,
    parse_config,
)

EXAMPLE = REPO_ROOT / "specs" / "routing.example.yaml"


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    return load_config(EXAMPLE)


def verdict(d: OutboundDecision | InboundDecision) -> tuple[bool, Reason | None, Cause | None]:
    """A decision's answer in one value: allowed, why not, the cause passed back."""
    return (d.allowed, d.reason, d.cause)


def test_nanp_call_uses_default_trunk_order(config: RoutingConfig) -> None:
    d = outbound(config, "alice@example.org/conversations.x1", "(555) 010-4477", {})
    assert d.allowed and d.reason is Reason.OK and d.cause is None
    assert d.caller == "alice@example.org"
    assert d.caller_id == "+15550104400"
    assert d.number == "+15550104477"
    assert d.route == "nanp"
    assert d.trunks == ("carrier-a", "carrier-b")
    assert d.dial_strings == (
        "PJSIP/+15550104477@carrier-a",
        "PJSIP/+15550104477@carrier-b",
    )
    assert d.ring_timeout == 45


def test_route_override_reorders_trunks(config: RoutingConfig) -> None:
    d = outbound(config, "bob@example.org", "011 44 20 7946 0000", {})
    assert d.route == "uk"
    assert d.caller_id == "+15550104401"
    assert d.dial_strings == (
        "PJSIP/+442079460000@carrier-b",
        "PJSIP/+442079460000@carrier-a",
    )


def test_first_matching_route_wins_in_file_order() -> None:
    text = EXAMPLE.read_text().replace(
        "routes:\n", 'routes:\n  - name: london\n    match: ["+4420"]\n    trunks: [carrier-a]\n'
    )
    config, issues = parse_config(text)
    assert issues == [] and config is not None
    assert outbound(config, "alice@example.org", "+442079460000", {}).route == "london"
    assert outbound(config, "alice@example.org", "+441612345678", {}).route == "uk"


@pytest.mark.parametrize("jid", ["ALICE@EXAMPLE.ORG", "alice@example.org/Gajim.ABC"])
def test_caller_jid_case_and_resource_do_not_matter(config: RoutingConfig, jid: str) -> None:
    assert outbound(config, jid, "+15550104477", {}).allowed


@pytest.mark.parametrize(
    "jid",
    [
        "mallory@example.org",
        "alice@example.org.evil",
        "alice",
        "",
        "\u0430lice@example.org",  # Cyrillic a: looks like alice, is not
        "alice@example.org\n",
        "alice@EXAMPLE.ORG\u0130",  # str.lower() would turn this into two characters
    ],
)
def test_unknown_callers_are_rejected(config: RoutingConfig, jid: str) -> None:
    d = outbound(config, jid, "+15550104477", {})
    assert not d.allowed
    assert d.reason is Reason.UNKNOWN_CALLER
    assert d.cause is Cause.CALL_REJECTED
    assert d.legs == () and d.dial_strings == ()
    assert d.caller_id is None


def test_invalid_number_is_refused_with_cause_28(config: RoutingConfig) -> None:
    d = outbound(config, "alice@example.org", "555 010 4477 & 911", {})
    assert verdict(d) == (False, Reason.INVALID_NUMBER, Cause.INVALID_NUMBER_FORMAT)
    assert d.number is None and d.dial_strings == ()


@pytest.mark.parametrize(
    ("dialled", "pattern"),
    [("+1 900 555 0100", "+1900"), ("1-976-555-0100", "+1976"), ("00 44 909 879 0000", "+449")],
)
def test_deny_list_beats_allow_list(config: RoutingConfig, dialled: str, pattern: str) -> None:
    d = outbound(config, "alice@example.org", dialled, {})
    assert verdict(d) == (False, Reason.DENIED_DESTINATION, Cause.CALL_REJECTED)
    assert f"denied pattern {pattern!r}" in d.detail
    assert d.number is not None and d.dial_strings == ()


def test_destination_outside_allowed_list(config: RoutingConfig) -> None:
    d = outbound(config, "alice@example.org", "+33 1 23 45 67 89", {})
    assert (d.allowed, d.reason) == (False, Reason.DESTINATION_NOT_ALLOWED)
    assert d.number == "+33123456789"


def test_no_route(config: RoutingConfig) -> None:
    narrowed = replace(config, routes=tuple(r for r in config.routes if r.name == "uk"))
    d = outbound(narrowed, "alice@example.org", "+15550104477", {})
    assert verdict(d) == (False, Reason.NO_ROUTE, Cause.NO_ROUTE_DESTINATION)


def test_concurrent_call_limit_policy_default(config: RoutingConfig) -> None:
    key = caller_key("alice@example.org/phone")
    assert key == "alice@example.org"
    assert outbound(config, "alice@example.org", "+15550104477", {key: 1}).allowed
    d = outbound(config, "alice@example.org", "+15550104477", {key: 2})
    assert verdict(d) == (False, Reason.CALL_LIMIT, Cause.USER_BUSY)
    assert "limit is 2" in d.detail
    # Another caller's calls do not count against alice.
    assert outbound(config, "alice@example.org", "+15550104477", {"bob@example.org": 9}).allowed


def test_per_caller_limit_overrides_policy(config: RoutingConfig) -> None:
    d = outbound(config, "bob@example.org", "+15550104477", {"bob@example.org": 1})
    assert d.reason is Reason.CALL_LIMIT
    assert "limit is 1" in d.detail


def test_inbound_parallel(config: RoutingConfig) -> None:
    d = inbound(config, "+15550104400")
    assert d.allowed and d.mode is RingMode.PARALLEL
    assert d.dial_strings == ("Motif/xmpp-gw/alice@example.org",)
    assert d.ring_timeout == 45


def test_inbound_sequential_keeps_configured_order(config: RoutingConfig) -> None:
    d = inbound(config, "+15550104401")
    assert d.mode is RingMode.SEQUENTIAL
    assert list(d.jids) == [
        "bob@example.org/phone",
        "bob@example.org/laptop",
        "alice@example.org",
    ]
    assert d.dial_strings[0] == "Motif/xmpp-gw/bob@example.org/phone"
    assert d.ring_timeout == 15


@pytest.mark.parametrize("did", ["+15550104401", "15550104401", "5550104401", "1 555 010 4401"])
def test_inbound_did_forms_carriers_send(config: RoutingConfig, did: str) -> None:
    assert inbound(config, did).number == "+15550104401"


@pytest.mark.parametrize("did", ["+15550104499", "", "s", "+15550104401;x", "anonymous"])
def test_unknown_did_is_rejected_as_unallocated(config: RoutingConfig, did: str) -> None:
    d = inbound(config, did)
    assert verdict(d) == (False, Reason.UNKNOWN_DID, Cause.UNALLOCATED)
    assert d.targets == () and d.dial_strings == ()


def test_e164_digits_without_plus_for_a_foreign_plan() -> None:
    text = EXAMPLE.read_text().replace('country_code: "1"', 'country_code: "44"')
    text = text.replace('national_prefix: "1"', 'national_prefix: "0"')
    config, issues = parse_config(text)
    assert issues == [] and config is not None
    # Read nationally this would be +44..., which is no DID; as E.164 digits it is one.
    assert inbound(config, "15550104400").number == "+15550104400"


def test_decisions_serialise_for_json(config: RoutingConfig) -> None:
    out = outbound(config, "alice@example.org", "+1 900 555 0100", {}).to_dict()
    assert out["reason"] == "denied-destination"
    assert (out["cause"], out["cause_name"]) == (21, "CALL_REJECTED")
    assert out["dial_strings"] == []
    inn = inbound(config, "+15550104401").to_dict()
    assert inn["mode"] == "sequential" and len(inn["dial_strings"]) == 3


# -- hotline (PLAR): chan_motif never passes the number a Jingle client dialled ---------------

HOTLINE = EXAMPLE.read_text().replace(
    '    caller_id: "+15550104400"\n',
    '    caller_id: "+15550104400"\n    hotline: "+1 (555) 010-4477"\n',
    1,
)


def hotline_config(hotline: str = "+1 (555) 010-4477") -> RoutingConfig:
    text = HOTLINE.replace('"+1 (555) 010-4477"', f'"{hotline}"')
    config, issues = parse_config(text)
    assert issues == [] and config is not None, issues
    return config


@pytest.mark.parametrize("dialled", ["", "   "])
def test_a_call_without_a_number_goes_to_the_callers_hotline(dialled: str) -> None:
    config = hotline_config()
    assert config.callers["alice@example.org"].hotline == "+15550104477"
    d = outbound(config, "Alice@example.org/gajim", dialled, {})
    assert d.allowed and d.hotline and d.reason is Reason.OK
    assert d.number == "+15550104477" and d.route == "nanp"
    assert d.dial_strings == ("PJSIP/+15550104477@carrier-a", "PJSIP/+15550104477@carrier-b")
    assert d.detail.startswith("hotline of alice@example.org (line ")
    assert d.to_dict()["hotline"] is True


def test_a_dialled_number_wins_over_the_hotline() -> None:
    d = outbound(hotline_config(), "alice@example.org", "+44 20 7946 0000", {})
    assert d.allowed and not d.hotline
    assert (d.number, d.route) == ("+442079460000", "uk")


def test_no_number_and_no_hotline_is_refused_as_before(config: RoutingConfig) -> None:
    d = outbound(config, "bob@example.org", "", {})
    assert verdict(d) == (False, Reason.INVALID_NUMBER, Cause.INVALID_NUMBER_FORMAT)
    assert not d.hotline and d.legs == ()
    assert "no hotline" in d.detail
    # Alice's hotline is hers only.
    assert not outbound(hotline_config(), "bob@example.org", "", {}).allowed


@pytest.mark.parametrize(
    ("hotline", "reason", "cause"),
    [
        ("+1 900 555 0100", Reason.DENIED_DESTINATION, Cause.CALL_REJECTED),
        ("+33 1 23 45 67 89", Reason.DESTINATION_NOT_ALLOWED, Cause.CALL_REJECTED),
    ],
)
def test_the_hotline_goes_through_policy_like_a_dialled_number(
    hotline: str, reason: Reason, cause: Cause
) -> None:
    d = outbound(hotline_config(hotline), "alice@example.org", "", {})
    assert (d.allowed, d.reason, d.cause, d.hotline) == (False, reason, cause, True)
    assert d.legs == () and d.detail.startswith("hotline of alice@example.org")


def test_the_hotline_counts_against_the_call_limit() -> None:
    d = outbound(hotline_config(), "alice@example.org", "", {"alice@example.org": 2})
    assert (d.allowed, d.reason, d.hotline) == (False, Reason.CALL_LIMIT, True)


def test_the_hotline_needs_a_route() -> None:
    text = HOTLINE.replace('    match: ["+"]\n    trunks: [carrier-a]\n', "")
    text = text.replace("  - name: rest-of-world\n", "")
    text = text.replace('allowed_destinations: ["+1", "+44"]', 'allowed_destinations: ["+"]')
    text = text.replace('hotline: "+1 (555) 010-4477"', 'hotline: "+33 1 23 45 67 89"')
    config, issues = parse_config(text)
    assert issues == [] and config is not None, issues
    d = outbound(config, "alice@example.org", "", {})
    assert verdict(d) == (False, Reason.NO_ROUTE, Cause.NO_ROUTE_DESTINATION)
