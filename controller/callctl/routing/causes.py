"""Hangup causes (Q.850, as Asterisk numbers them), SIP status mapping, and failover rules.

A trunk leg that fails with a cause in FAILOVER_CAUSES says "this carrier cannot take the call
now" (503 and other 5xx, a timeout with no response at all): the next trunk is tried. A cause
that is an answer about the destination (busy, no answer, rejected, unallocated, bad number)
would be the same on every carrier, so it ends the attempt and goes back to the caller.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Cause(IntEnum):
    UNALLOCATED = 1
    NO_ROUTE_TRANSIT_NET = 2
    NO_ROUTE_DESTINATION = 3
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    NORMAL_TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    BEARERCAPABILITY_NOTAVAIL = 58
    RECOVERY_ON_TIMER_EXPIRE = 102
    INTERWORKING = 127


class Outcome(StrEnum):
    """What a cause means for the person who placed the call."""

    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    NO_RESPONSE = "no-response"
    CONGESTION = "congestion"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"
    INVALID_NUMBER = "invalid-number"
    FAILED = "failed"


_OUTCOMES: dict[int, Outcome] = {
    Cause.NORMAL_CLEARING: Outcome.NORMAL,
    Cause.NORMAL_UNSPECIFIED: Outcome.NORMAL,
    Cause.USER_BUSY: Outcome.BUSY,
    Cause.NO_ANSWER: Outcome.NO_ANSWER,
    Cause.SUBSCRIBER_ABSENT: Outcome.UNREACHABLE,
    Cause.NO_USER_RESPONSE: Outcome.NO_RESPONSE,
    Cause.RECOVERY_ON_TIMER_EXPIRE: Outcome.NO_RESPONSE,
    Cause.NORMAL_CIRCUIT_CONGESTION: Outcome.CONGESTION,
    Cause.SWITCH_CONGESTION: Outcome.CONGESTION,
    Cause.NORMAL_TEMPORARY_FAILURE: Outcome.CONGESTION,
    Cause.NETWORK_OUT_OF_ORDER: Outcome.CONGESTION,
    Cause.DESTINATION_OUT_OF_ORDER: Outcome.CONGESTION,
    Cause.UNALLOCATED: Outcome.UNREACHABLE,
    Cause.NO_ROUTE_TRANSIT_NET: Outcome.UNREACHABLE,
    Cause.NO_ROUTE_DESTINATION: Outcome.UNREACHABLE,
    Cause.NUMBER_CHANGED: Outcome.UNREACHABLE,
    Cause.CALL_REJECTED: Outcome.REJECTED,
    Cause.FACILITY_REJECTED: Outcome.REJECTED,
    Cause.INVALID_NUMBER_FORMAT: Outcome.INVALID_NUMBER,
}

# Carrier-side trouble: 5xx (503 -> 34, 500 -> 38, 502 -> 27, 504 -> 102), 408 or a
# transaction timeout (18), and Asterisk's own temporary-failure causes.
FAILOVER_CAUSES: frozenset[int] = frozenset(
    {
        Cause.NO_USER_RESPONSE,
        Cause.DESTINATION_OUT_OF_ORDER,
        Cause.NORMAL_CIRCUIT_CONGESTION,
        Cause.NETWORK_OUT_OF_ORDER,
        Cause.NORMAL_TEMPORARY_FAILURE,
        Cause.SWITCH_CONGESTION,
        Cause.RECOVERY_ON_TIMER_EXPIRE,
    }
)

# The SIP final responses a carrier gives most often, mapped as Asterisk's res_pjsip does
# (ast_sip_hangup_sip2cause), so tests can reason from the SIPp scenario to the cause.
_SIP_TO_CAUSE: dict[int, Cause] = {
    403: Cause.CALL_REJECTED,
    404: Cause.UNALLOCATED,
    408: Cause.NO_USER_RESPONSE,
    410: Cause.NUMBER_CHANGED,
    480: Cause.NO_ANSWER,
    484: Cause.INVALID_NUMBER_FORMAT,
    486: Cause.USER_BUSY,
    488: Cause.BEARERCAPABILITY_NOTAVAIL,
    500: Cause.NETWORK_OUT_OF_ORDER,
    502: Cause.DESTINATION_OUT_OF_ORDER,
    503: Cause.NORMAL_CIRCUIT_CONGESTION,
    504: Cause.RECOVERY_ON_TIMER_EXPIRE,
    600: Cause.USER_BUSY,
    603: Cause.CALL_REJECTED,
    604: Cause.UNALLOCATED,
}

# ARI's DELETE /channels/{id}?reason=... names; other causes go as reason_code.
_ARI_REASONS: dict[int, str] = {
    Cause.NORMAL_CLEARING: "normal",
    Cause.USER_BUSY: "busy",
    Cause.NORMAL_CIRCUIT_CONGESTION: "congestion",
    Cause.NO_ANSWER: "no_answer",
    Cause.CALL_REJECTED: "rejected",
    Cause.UNALLOCATED: "unallocated",
    Cause.INVALID_NUMBER_FORMAT: "number_incomplete",
    Cause.NETWORK_OUT_OF_ORDER: "failure",
}


def outcome(cause: int) -> Outcome:
    return _OUTCOMES.get(cause, Outcome.FAILED)


def should_failover(cause: int) -> bool:
    return cause in FAILOVER_CAUSES


def cause_from_sip(status: int) -> int:
    """Asterisk's cause for a SIP final response; unknown 4xx/6xx -> 127, 5xx -> 34."""
    if status in _SIP_TO_CAUSE:
        return int(_SIP_TO_CAUSE[status])
    if 500 <= status < 600:
        return int(Cause.NORMAL_CIRCUIT_CONGESTION)
    if 400 <= status < 700:
        return int(Cause.INTERWORKING)
    return int(Cause.NORMAL_CLEARING)


def ari_hangup_reason(cause: int) -> tuple[str | None, int | None]:
    """(reason, reason_code) for ARI's channel hangup, carrying `cause` to the other side:
    ARI's name for it when it has one, else the number itself."""
    reason = _ARI_REASONS.get(cause)
    return (reason, None) if reason else (None, int(cause))
