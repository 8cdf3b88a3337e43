"""Cause mapping and the failover rule."""

from __future__ import annotations

import pytest
from callctl.routing.causes import (
    FAILOVER_CAUSES,
    Cause,
    Outcome,
    ari_hangup_reason,
    cause_from_sip,
    outcome,
    should_failover,
)


@pytest.mark.parametrize(
    ("status", "cause", "result", "failover"),
    [
        (486, 17, Outcome.BUSY, False),
        (600, 17, Outcome.BUSY, False),
        (480, 19, Outcome.NO_ANSWER, False),
        (404, 1, Outcome.UNREACHABLE, False),
        (604, 1, Outcome.UNREACHABLE, False),
        (603, 21, Outcome.REJECTED, False),
        (403, 21, Outcome.REJECTED, False),
        (484, 28, Outcome.INVALID_NUMBER, False),
        (503, 34, Outcome.CONGESTION, True),
        (500, 38, Outcome.CONGESTION, True),
        (502, 27, Outcome.CONGESTION, True),
        (504, 102, Outcome.NO_RESPONSE, True),
        (408, 18, Outcome.NO_RESPONSE, True),
        (599, 34, Outcome.CONGESTION, True),  # unknown 5xx: congestion, as Asterisk does
        (499, 127, Outcome.FAILED, False),
    ],
)
def test_sip_status_to_cause_outcome_and_failover(
    status: int, cause: int, result: Outcome, failover: bool
) -> None:
    assert cause_from_sip(status) == cause
    assert outcome(cause) is result
    assert should_failover(cause) is failover


def test_destination_answers_never_fail_over() -> None:
    # Busy, no answer, rejected and unallocated would be the same on any carrier.
    for cause in (
        Cause.USER_BUSY,
        Cause.NO_ANSWER,
        Cause.CALL_REJECTED,
        Cause.UNALLOCATED,
        Cause.NO_ROUTE_DESTINATION,
        Cause.NORMAL_CLEARING,
    ):
        assert cause not in FAILOVER_CAUSES


def test_unknown_cause_is_failed() -> None:
    assert outcome(99) is Outcome.FAILED
    assert not should_failover(99)


def test_ari_hangup_reason() -> None:
    assert ari_hangup_reason(17) == ("busy", None)
    assert ari_hangup_reason(34) == ("congestion", None)
    assert ari_hangup_reason(1) == ("unallocated", None)
    assert ari_hangup_reason(102) == (None, 102)
