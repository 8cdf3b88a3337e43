"""One call's state machine, pure: events in, effects out. No I/O, no clock of its own.

A call is the caller's channel (entered the app from the dialplan), a bridge, and the legs
placed towards candidates (trunks for outbound, JIDs for inbound), one at a time (failover,
sequential ringing) or all at once (parallel ringing). The executor (stasis.py) performs the
effects in order and feeds ARI events back in.

The machine knows nothing of how its effects are carried out: each dispatch mode
(callctl.daemon.bridge, callctl.daemon.dialplan) performs them its own way. In the dialplan
mode a leg is a destination of a Dial() on the caller's channel, not a channel of ours: that
mode skips the bridge and the legs' hangups, and reports a Dial() that came back unanswered
with `legs_returned` (every leg it rang ended with that status).

    DIALING -> RINGING/EARLY_MEDIA -> ANSWERED -> ENDED
        \\____________________________________/^  (every failure, refusal, hangup)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from callctl.routing.causes import Cause, outcome, should_failover
from callctl.routing.dialstring import DialTarget


class Direction(StrEnum):
    OUTBOUND = "outbound"  # Jingle client -> phone network
    INBOUND = "inbound"  # phone network -> Jingle client(s)


class Phase(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    EARLY_MEDIA = "early-media"
    ANSWERED = "answered"
    ENDED = "ended"


class LegState(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    EARLY_MEDIA = "early-media"
    UP = "up"
    GONE = "gone"


@dataclass
class Leg:
    channel_id: str  # our channel (bridge mode), else a label for the destination
    target: DialTarget
    state: LegState = LegState.DIALING
    dialstatus: str = ""
    cause: int | None = None


# -- effects: what the executor must do, in order ------------------------------------------


@dataclass(frozen=True)
class SetupBridge:
    """Create the bridge and put the caller in it. The caller ID is set on the caller's
    channel first: a two-party bridge copies it onto the leg's connected line, which PJSIP
    sends as From (otherwise the called party would see the caller's JID)."""

    bridge_id: str
    caller_channel: str
    caller_id: str | None = None


@dataclass(frozen=True)
class DialLeg:
    """Ring `target`. Several in one effect list ring at once (parallel ringing)."""

    channel_id: str
    target: DialTarget
    bridge_id: str
    caller_channel: str
    timeout: int
    caller_id: str | None


@dataclass(frozen=True)
class Answer:
    channel_id: str


@dataclass(frozen=True)
class Hangup:
    channel_id: str
    cause: int


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class Finished:
    outcome: str  # answered, abandoned, unknown, or a causes.Outcome value
    cause: int


# The call ended while the daemon was not told how (found gone by a reconcile): it may have
# been answered, so it is neither counted "abandoned" nor given a failure's outcome.
UNKNOWN = "unknown"


Effect = SetupBridge | DialLeg | Answer | Hangup | DestroyBridge | Finished

# Dial statuses (app_dial / ARI Dial events) that say more than the bare hangup cause: a
# ring timeout ends the leg with cause 0 or 16, which would read as a normal hangup.
_DIALSTATUS_CAUSE = {
    "NOANSWER": Cause.NO_ANSWER,
    "BUSY": Cause.USER_BUSY,
    "CONGESTION": Cause.NORMAL_CIRCUIT_CONGESTION,
    "CHANUNAVAIL": Cause.DESTINATION_OUT_OF_ORDER,
}
_WEAK_CAUSES = (0, Cause.NORMAL_CLEARING, Cause.NORMAL_UNSPECIFIED)
# "Try again later": 34 goes out as SIP 503. (41, temporary failure, has no SIP mapping in
# chan_pjsip and would reach a SIP caller as "603 Decline".)
TEMPORARY = int(Cause.NORMAL_CIRCUIT_CONGESTION)
# When every candidate failed, the caller hears the most telling of their causes.
_PREFERENCE = (Cause.USER_BUSY, Cause.NO_ANSWER)


def leg_cause(cause: int | None, dialstatus: str) -> int:
    """The cause a failed leg reports: the hangup cause unless it is vague or a timeout."""
    if dialstatus == "NOANSWER":
        return int(Cause.NO_ANSWER)
    if cause is None or cause in _WEAK_CAUSES:
        return int(_DIALSTATUS_CAUSE.get(dialstatus, TEMPORARY))
    return cause


@dataclass
class Call:
    id: str
    direction: Direction
    caller_channel: str
    candidates: tuple[DialTarget, ...]
    started: float  # monotonic seconds, from the executor's clock
    ring_timeout: int
    parallel: bool = False
    caller_id: str | None = None  # shown to the called party (outbound)
    caller_key: str | None = None  # bare JID for the per-caller limit (outbound)
    number: str | None = None  # dialled number or DID, E.164
    phase: Phase = Phase.DIALING
    legs: list[Leg] = field(default_factory=list)
    answered_leg: str | None = None
    answered_at: float | None = None
    final_cause: int | None = None
    caller_gone: bool = False
    _next: int = 0

    @property
    def bridge_id(self) -> str:
        return f"{self.id}-br"

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    def leg(self, channel_id: str) -> Leg | None:
        return next((leg for leg in self.legs if leg.channel_id == channel_id), None)

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs if leg.state is not LegState.GONE]

    def channel_ids(self) -> list[str]:
        return [self.caller_channel, *(leg.channel_id for leg in self.legs)]

    @property
    def trunk(self) -> str | None:
        """The candidate of the answered leg, else of the newest leg."""
        leg = self.leg(self.answered_leg) if self.answered_leg else None
        leg = leg or (self.legs[-1] if self.legs else None)
        return leg.target.label if leg else None

    def setup_seconds(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.started

    # -- inputs ----------------------------------------------------------------------------

    def start(self) -> list[Effect]:
        if not self.candidates:
            return self._finish(int(Cause.NO_ROUTE_DESTINATION))
        effects: list[Effect] = [SetupBridge(self.bridge_id, self.caller_channel, self.caller_id)]
        count = len(self.candidates) if self.parallel else 1
        for _ in range(count):
            effects.append(self._dial_next())
        return effects

    # Ringing and early media need no request: each leg joins the call's bridge before it is
    # dialled, and the bridge carries the leg's 180/183 and its early audio to the caller.
    def leg_ringing(self, channel_id: str) -> list[Effect]:
        leg = self.leg(channel_id)
        if leg is None or self.ended or leg.state is not LegState.DIALING:
            return []
        leg.state = LegState.RINGING
        if self.phase is Phase.DIALING:
            self.phase = Phase.RINGING
        return []

    def leg_progress(self, channel_id: str) -> list[Effect]:
        leg = self.leg(channel_id)
        if leg is None or self.ended or leg.state not in (LegState.DIALING, LegState.RINGING):
            return []
        leg.state = LegState.EARLY_MEDIA
        if self.phase in (Phase.DIALING, Phase.RINGING):
            self.phase = Phase.EARLY_MEDIA
        return []

    def leg_dialstatus(self, channel_id: str, dialstatus: str) -> list[Effect]:
        leg = self.leg(channel_id)
        if leg is not None and dialstatus not in ("", "RINGING", "PROGRESS", "PROCEEDING"):
            leg.dialstatus = dialstatus
        return []

    def leg_answered(self, channel_id: str, now: float) -> list[Effect]:
        leg = self.leg(channel_id)
        if leg is None or leg.state is LegState.GONE or leg.state is LegState.UP:
            return []
        if self.ended or self.phase is Phase.ANSWERED:
            # Another leg won the race (parallel ringing): this one is not wanted.
            leg.state = LegState.UP
            return [Hangup(channel_id, int(Cause.NORMAL_CLEARING))]
        leg.state = LegState.UP
        self.phase = Phase.ANSWERED
        self.answered_leg = channel_id
        self.answered_at = now
        effects: list[Effect] = [Answer(self.caller_channel)]
        for other in self.live_legs():
            if other is not leg:
                # Q.850 26 "non-selected user clearing": answered elsewhere.
                other.state, other.cause = LegState.GONE, 26
                effects.append(Hangup(other.channel_id, 26))
        return effects

    def leg_gone(self, channel_id: str, cause: int | None) -> list[Effect]:
        leg = self.leg(channel_id)
        if leg is None or leg.state is LegState.GONE:
            return []
        was_up = leg.state is LegState.UP
        leg.state = LegState.GONE
        leg.cause = leg_cause(cause, leg.dialstatus) if not was_up else (cause or 16)
        if self.ended:
            return []
        if self.phase is Phase.ANSWERED:
            if channel_id == self.answered_leg:
                return self._finish(leg.cause)
            return []
        if self._should_try_next(leg.cause):
            return [self._dial_next()]
        if self.live_legs():
            return []  # parallel ringing: others still ring
        return self._finish(self._failure_cause())

    def caller_hung_up(self, cause: int | None) -> list[Effect]:
        if self.ended:
            return []
        self.caller_gone = True
        return self._finish(cause or int(Cause.NORMAL_CLEARING), by_caller=True)

    def legs_returned(self, dialstatus: str, cause: int | None) -> list[Effect]:
        """Every live leg ended with this status (a Dial() came back unanswered)."""
        effects: list[Effect] = []
        for leg in self.live_legs():
            self.leg_dialstatus(leg.channel_id, dialstatus)
            effects += self.leg_gone(leg.channel_id, cause)
        return effects

    def first_live_leg(self) -> Leg | None:
        return next(iter(self.live_legs()), None)

    def vanished(self) -> list[Effect]:
        """The caller's channel is gone and no event said how it ended (reconcile)."""
        if self.ended:
            return []
        self.caller_gone = True
        return self._finish(int(Cause.NORMAL_CLEARING), seen=False)

    def adopt(self, answered: bool) -> list[Effect]:
        """Taken over from an earlier daemon: every candidate is already being rung (or is
        up) by a Dial() that daemon started. Nothing to do until the next event."""
        self._next = len(self.candidates)
        for n, target in enumerate(self.candidates, 1):
            state = LegState.UP if answered and n == 1 else LegState.RINGING
            self.legs.append(Leg(f"{self.id}-{n}", target, state))
        self.phase = Phase.ANSWERED if answered else Phase.RINGING
        self.answered_leg = self.legs[0].channel_id if answered and self.legs else None
        return []

    def hangup(self, cause: int = Cause.NORMAL_CLEARING) -> list[Effect]:
        """Ended from outside (`callctl hangup`, shutdown, reconcile)."""
        if self.ended:
            return []
        return self._finish(int(cause))

    # -- internals -------------------------------------------------------------------------

    def _dial_next(self) -> DialLeg:
        target = self.candidates[self._next]
        self._next += 1
        leg = Leg(f"{self.id}-{self._next}", target)
        self.legs.append(leg)
        return DialLeg(
            channel_id=leg.channel_id,
            target=target,
            bridge_id=self.bridge_id,
            caller_channel=self.caller_channel,
            timeout=self.ring_timeout,
            caller_id=self.caller_id,
        )

    def _should_try_next(self, cause: int) -> bool:
        if self.parallel or self._next >= len(self.candidates):
            return False
        if self.direction is Direction.INBOUND:
            return True  # sequential ringing: whatever the reason, ring the next JID
        return should_failover(cause)

    def _failure_cause(self) -> int:
        causes = [leg.cause for leg in self.legs if leg.cause is not None]
        for preferred in _PREFERENCE:
            if preferred in causes:
                return int(preferred)
        return causes[-1] if causes else TEMPORARY

    def _finish(self, cause: int, *, by_caller: bool = False, seen: bool = True) -> list[Effect]:
        answered = self.answered_leg is not None
        self.phase = Phase.ENDED
        self.final_cause = cause
        effects: list[Effect] = [Hangup(leg.channel_id, cause) for leg in self.live_legs()]
        for leg in self.live_legs():
            leg.state = LegState.GONE
            if leg.cause is None:
                leg.cause = cause  # ended by us: no event will bring the leg's own
        if not self.caller_gone:
            effects.append(Hangup(self.caller_channel, cause))
            self.caller_gone = True
        if self.legs:
            effects.append(DestroyBridge(self.bridge_id))
        if answered:
            result = "answered"
        elif not seen:
            result = UNKNOWN
        elif by_caller:
            result = "abandoned"
        else:
            result = str(outcome(cause))
        effects.append(Finished(result, cause))
        return effects

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "id": self.id,
            "direction": str(self.direction),
            "state": str(self.phase),
            "age_s": round(now - self.started, 3),
            "number": self.number,
            "trunk": self.trunk if self.direction is Direction.OUTBOUND else None,
            "caller_channel": self.caller_channel,
            "legs": [
                {
                    "channel": leg.channel_id,
                    "target": leg.target.label,
                    "state": str(leg.state),
                    "cause": leg.cause,
                }
                for leg in self.legs
            ],
        }


def lost(call: Call, channel_id: str) -> list[Effect]:
    """A channel vanished while events were not arriving (found by reconcile).

    Its real cause is unknown, so a lost leg never triggers failover (it may have been busy
    or even answered): the call ends with a temporary failure (34), or normally if it was up.
    A lost caller ends the call as answered if it was, else with the outcome "unknown".
    """
    if call.ended:
        return []
    if channel_id == call.caller_channel:
        return call.vanished()
    leg = call.leg(channel_id)
    if leg is None or leg.state is LegState.GONE:
        return []
    up = leg.state is LegState.UP
    leg.state = LegState.GONE
    leg.cause = int(Cause.NORMAL_CLEARING) if up else TEMPORARY
    if call.phase is Phase.ANSWERED and channel_id != call.answered_leg:
        return []
    if not up and call.live_legs():
        return []  # parallel ringing: the others still ring
    return call.hangup(leg.cause)
