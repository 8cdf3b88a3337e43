"""Which trunk leg to try next after a failed one, and what the caller hears when none is left.

Pure bookkeeping over an OutboundDecision, so the call engine only reports causes.
"""

from __future__ import annotations

from collections.abc import Sequence

from callctl.routing.causes import Cause, should_failover
from callctl.routing.decide import OutboundDecision, TrunkLeg


def next_leg(decision: OutboundDecision, failed: Sequence[int]) -> TrunkLeg | None:
    """The leg to originate after the legs so far failed with the causes in `failed` (in
    order); None when the last failure was final (busy, rejected ...) or no trunk is left."""
    if not decision.allowed:
        return None
    if failed and not should_failover(failed[-1]):
        return None
    if len(failed) >= len(decision.legs):
        return None
    return decision.legs[len(failed)]


def caller_cause(failed: Sequence[int]) -> int:
    """The cause to hang the caller up with once no leg is left: the last leg's answer.

    The last answer is the most informative: a final one (busy) ended the attempt, and if every
    trunk failed over, the last trunk's trouble (congestion, no response) is what remains.
    """
    return int(failed[-1]) if failed else int(Cause.NORMAL_TEMPORARY_FAILURE)
