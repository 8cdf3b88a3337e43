"""Policy checks on an already-normalised destination and on a caller's current calls."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from callctl.routing.causes import Cause
from callctl.routing.model import Caller, Policy
from callctl.routing.patterns import first_match


class Reason(StrEnum):
    """Why a call is routed or refused; stable strings for JSON, logs and metrics labels."""

    OK = "ok"
    UNKNOWN_CALLER = "unknown-caller"
    INVALID_NUMBER = "invalid-number"
    DENIED_DESTINATION = "denied-destination"
    DESTINATION_NOT_ALLOWED = "destination-not-allowed"
    NO_ROUTE = "no-route"
    CALL_LIMIT = "call-limit"
    UNKNOWN_DID = "unknown-did"


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    detail: str
    cause: Cause


def check_destination(policy: Policy, number: str) -> Refusal | None:
    # The deny list wins: "+1" may be allowed while "+1900" (premium rate) is not.
    denied = first_match(policy.denied, number)
    if denied is not None:
        return Refusal(
            Reason.DENIED_DESTINATION,
            f"{number} matches denied pattern {denied.text!r} (line {denied.line})",
            Cause.CALL_REJECTED,
        )
    if first_match(policy.allowed, number) is None:
        allowed = ", ".join(p.text for p in policy.allowed)
        return Refusal(
            Reason.DESTINATION_NOT_ALLOWED,
            f"{number} matches no allowed destination ({allowed})",
            Cause.CALL_REJECTED,
        )
    return None


def call_limit(policy: Policy, caller: Caller) -> int:
    if caller.max_concurrent_calls is not None:
        return caller.max_concurrent_calls
    return policy.max_concurrent_calls_per_caller


def check_limit(policy: Policy, caller: Caller, active: int) -> Refusal | None:
    limit = call_limit(policy, caller)
    if active >= limit:
        # Busy, not congestion: it is the caller's own line that is full, not the network.
        return Refusal(
            Reason.CALL_LIMIT,
            f"{caller.jid} has {active} active call(s); the limit is {limit}",
            Cause.USER_BUSY,
        )
    return None
