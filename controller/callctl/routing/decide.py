"""Routing decisions: pure functions from config and call facts to what to dial.

Nothing here talks to Asterisk. The caller JID and the dialled or called number are untrusted
input: they are only ever used as lookup keys or normalised to E.164 digits, and they are
never copied into a dial string.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from callctl.routing import dialstring
from callctl.routing.causes import Cause
from callctl.routing.dialstring import DialTarget
from callctl.routing.model import RingMode, Route, RoutingConfig
from callctl.routing.names import caller_key
from callctl.routing.numbers import NumberError, NumberingPlan, is_e164, normalise
from callctl.routing.patterns import Pattern, first_match
from callctl.routing.policy import Reason, Refusal, check_destination, check_limit


@dataclass(frozen=True)
class OutboundDecision:
    """A call from a Jingle client to the phone network. `legs` is empty unless allowed."""

    allowed: bool
    reason: Reason
    detail: str
    cause: Cause | None  # the hangup cause for the caller when refused
    caller: str | None  # canonical bare JID, when the caller is known
    caller_id: str | None
    number: str | None  # E.164
    route: str | None
    legs: tuple[DialTarget, ...] = ()  # labelled with the trunk
    ring_timeout: int = 0
    hotline: bool = False  # no number was dialled: `number` is the caller's hotline

    @property
    def dial_strings(self) -> tuple[str, ...]:
        return tuple(leg.dial_string for leg in self.legs)

    @property
    def trunks(self) -> tuple[str, ...]:
        return tuple(leg.label for leg in self.legs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": "outbound",
            "allowed": self.allowed,
            "reason": str(self.reason),
            "detail": self.detail,
            "cause": None if self.cause is None else int(self.cause),
            "cause_name": None if self.cause is None else self.cause.name,
            "caller": self.caller,
            "caller_id": self.caller_id,
            "number": self.number,
            "route": self.route,
            "trunks": list(self.trunks),
            "dial_strings": list(self.dial_strings),
            "ring_timeout": self.ring_timeout,
            "hotline": self.hotline,
        }


@dataclass(frozen=True)
class InboundDecision:
    """A call from the phone network to one or several JIDs through the Motif endpoint."""

    allowed: bool
    reason: Reason
    detail: str
    cause: Cause | None
    number: str | None  # the DID in E.164
    mode: RingMode | None = None
    targets: tuple[DialTarget, ...] = ()  # labelled with the JID
    ring_timeout: int = 0  # per target when sequential, for all at once when parallel

    @property
    def dial_strings(self) -> tuple[str, ...]:
        return tuple(target.dial_string for target in self.targets)

    @property
    def jids(self) -> tuple[str, ...]:
        return tuple(target.label for target in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": "inbound",
            "allowed": self.allowed,
            "reason": str(self.reason),
            "detail": self.detail,
            "cause": None if self.cause is None else int(self.cause),
            "cause_name": None if self.cause is None else self.cause.name,
            "number": self.number,
            "mode": None if self.mode is None else str(self.mode),
            "jids": list(self.jids),
            "dial_strings": list(self.dial_strings),
            "ring_timeout": self.ring_timeout,
        }


def outbound(
    config: RoutingConfig,
    caller_jid: str,
    dialled: str,
    active_calls_by_caller: Mapping[str, int],
) -> OutboundDecision:
    """Decide a Jingle-to-phone call. `active_calls_by_caller` is keyed by bare JID.

    A call that carries no dialled number (`dialled` empty or blank: chan_motif never passes
    the number a Jingle client dialled) goes to the caller's `hotline`, if it has one; the
    hotline number is then checked exactly like a dialled one (normalisation, policy, routes,
    the call limit). Without a hotline such a call is refused as an invalid number.
    """
    key = caller_key(caller_jid)
    caller = config.callers.get(key) if key is not None else None
    if key is None or caller is None:
        why = "is not a valid JID" if key is None else "has no entry under callers"
        return _refuse_out(
            Refusal(Reason.UNKNOWN_CALLER, f"the caller {why}", Cause.CALL_REJECTED), key
        )
    hotline = caller.hotline if not dialled.strip() else None
    via = f"hotline of {key} (line {caller.line}), no number dialled; " if hotline else ""

    def refuse(refusal: Refusal, number: str | None = None) -> OutboundDecision:
        refusal = Refusal(refusal.reason, via + refusal.detail, refusal.cause)
        return _refuse_out(refusal, key, caller.caller_id, number, hotline=bool(hotline))

    if not (hotline or dialled.strip()):
        return refuse(
            Refusal(
                Reason.INVALID_NUMBER,
                f"no number dialled and {key} has no hotline",
                Cause.INVALID_NUMBER_FORMAT,
            )
        )
    try:
        number = normalise(hotline or dialled, config.numbering)
    except NumberError as err:
        return refuse(Refusal(Reason.INVALID_NUMBER, str(err), Cause.INVALID_NUMBER_FORMAT))
    refusal = check_destination(config.policy, number)
    if refusal is not None:
        return refuse(refusal, number)
    match = _route_for(config, number)
    if match is None:
        return refuse(
            Refusal(Reason.NO_ROUTE, f"no route matches {number}", Cause.NO_ROUTE_DESTINATION),
            number,
        )
    refusal = check_limit(config.policy, caller, active_calls_by_caller.get(key, 0))
    if refusal is not None:
        return refuse(refusal, number)
    route, pattern = match
    legs = tuple(dialstring.trunk_target(number, trunk) for trunk in route.trunks)
    return OutboundDecision(
        allowed=True,
        reason=Reason.OK,
        detail=via + f"route {route.name!r} (line {route.line}) matches by {pattern.text!r}",
        cause=None,
        caller=key,
        caller_id=caller.caller_id,
        number=number,
        route=route.name,
        legs=legs,
        ring_timeout=config.policy.ring_timeout,
        hotline=bool(hotline),
    )


def inbound(config: RoutingConfig, did: str) -> InboundDecision:
    """Decide a phone-to-Jingle call for the called number `did`, as the carrier sent it."""
    number = _did_number(did, config.numbering, config.dids.keys())
    entry = config.dids.get(number) if number is not None else None
    if entry is None:
        why = "not a phone number" if number is None else f"{number} is not a configured DID"
        return InboundDecision(False, Reason.UNKNOWN_DID, why, Cause.UNALLOCATED, number)
    targets = tuple(dialstring.jid_target(config.motif_endpoint, jid) for jid in entry.jids)
    return InboundDecision(
        allowed=True,
        reason=Reason.OK,
        detail=f"DID {entry.number} (line {entry.line}) rings {len(targets)} JID(s), {entry.ring}",
        cause=None,
        number=entry.number,
        mode=entry.ring,
        targets=targets,
        ring_timeout=entry.ring_timeout or config.policy.ring_timeout,
    )


def _route_for(config: RoutingConfig, number: str) -> tuple[Route, Pattern] | None:
    """The first route (in file order) with a pattern matching `number`."""
    for route in config.routes:
        pattern = first_match(route.patterns, number)
        if pattern is not None:
            return route, pattern
    return None


def _did_number(did: str, plan: NumberingPlan, known: Container[str]) -> str | None:
    try:
        number: str | None = normalise(did, plan)
    except NumberError:
        number = None
    if number in known:
        return number
    # Carriers often send E.164 without the '+'; only a configured DID can match that way.
    if did.isascii() and did.isdigit() and is_e164("+" + did) and "+" + did in known:
        return "+" + did
    return number


def _refuse_out(
    refusal: Refusal,
    caller: str | None,
    caller_id: str | None = None,
    number: str | None = None,
    *,
    hotline: bool = False,
) -> OutboundDecision:
    return OutboundDecision(
        allowed=False,
        reason=refusal.reason,
        detail=refusal.detail,
        cause=refusal.cause,
        caller=caller,
        caller_id=caller_id,
        number=number,
        route=None,
        hotline=hotline,
    )
