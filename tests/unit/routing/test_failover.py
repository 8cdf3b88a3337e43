"""Trunk failover over a decision: next leg after each failure, and the caller's cause."""

from __future__ import annotations

import pytest
from callctl.paths import REPO_ROOT
from callctl.routing import load_config, outbound
from callctl.routing.failover import caller_cause, next_leg

EXAMPLE = REPO_ROOT / "specs" / "routing.example.yaml"
DECISION = outbound(load_config(EXAMPLE), "alice@example.org", "+15550104477", {})


def test_first_leg_is_the_primary() -> None:
    leg = next_leg(DECISION, [])
    assert leg is not None and leg.dial_string == "PJSIP/+15550104477@carrier-a"


@pytest.mark.parametrize("cause", [34, 38, 41, 42, 18, 102, 27])
def test_carrier_trouble_moves_to_the_fallback(cause: int) -> None:
    leg = next_leg(DECISION, [cause])
    assert leg is not None and leg.trunk == "carrier-b"


@pytest.mark.parametrize("cause", [17, 19, 21, 1, 3, 28, 16])
def test_answers_about_the_destination_stop(cause: int) -> None:
    assert next_leg(DECISION, [cause]) is None
    assert caller_cause([cause]) == cause


def test_no_trunk_left_after_all_fail_over() -> None:
    assert next_leg(DECISION, [34, 18]) is None
    assert caller_cause([34, 18]) == 18


def test_refused_decision_has_no_leg() -> None:
    refused = outbound(load_config(EXAMPLE), "mallory@example.org", "+15550104477", {})
    assert next_leg(refused, []) is None
    assert caller_cause([]) == 41
