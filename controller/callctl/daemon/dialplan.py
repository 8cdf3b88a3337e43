"""Dialplan mode (`callctl run --dispatch dialplan`, the default fast path).

The daemon decides in Stasis, then continues the caller's channel into the `callctl-dial`
context with Dial()'s whole argument list in one variable (callctl.daemon.handoff builds it,
re-checking every piece); Dial() rings, bridges and tears down. A leg is a destination of
that Dial(), not a channel of ours, so the bridge, the answer and the legs' hangups are
Dial()'s; targets dialled together (parallel ringing) go into one Dial(). The call is
followed through AMI (DialEnd answered, Hangup) and through its return to the app when
Dial() fails (Stasis(callctl,dialed,STATUS,CAUSE)).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from callctl.asterisk.ari import AriNotFound, AriRequestError, AriUnavailable
from callctl.daemon import calls as C
from callctl.daemon import handoff
from callctl.daemon.logfmt import kv
from callctl.daemon.reconcile import new_call_id
from callctl.routing.names import caller_key

if TYPE_CHECKING:
    from callctl.daemon.stasis import Router, Step

log = logging.getLogger("callctl.daemon.dialplan")

DIALED = "dialed"  # appArgs of a caller back from Dial(): dialed,DIALSTATUS,HANGUPCAUSE


class DialplanDispatch:
    legs_are_channels = False  # reconcile looks only at the caller's channel

    def __init__(self, router: Router) -> None:
        self.router = router

    def leg_entered(self, channel_id: str) -> None:
        pass

    def finished(self, call: C.Call) -> None:
        pass

    def returned(self, channel_id: str, args: list[str]) -> bool:
        """A caller back from Dial(): the legs it rang ended unanswered."""
        if not args or args[0] != DIALED:
            return False
        call = self.router.call_of(channel_id)
        if call is None or call.caller_channel != channel_id:
            # E.g. the controller restarted while Dial() rang: nobody knows this call.
            log.warning(kv("call.unknown_return", channel=channel_id))
            self.router.spawn(self.router.hangup_channel(channel_id, C.TEMPORARY))
            return True
        status = args[1] if len(args) > 1 else ""
        cause = int(args[2]) if len(args) > 2 and args[2].isdigit() else None
        self.router.apply(call, call.legs_returned(status, cause))
        return True

    def steps(self, call: C.Call, effects: list[C.Effect]) -> list[Step]:
        out: list[Step] = []
        dials = [e for e in effects if isinstance(e, C.DialLeg)]
        if dials:
            out.append((dials[0], partial(self._hand_off, call, dials)))
        for effect in effects:
            # The bridge, the answer and the legs are Dial()'s: only the caller is ours.
            if isinstance(effect, C.Hangup) and effect.channel_id == call.caller_channel:
                out.append(
                    (effect, partial(self.router.hangup_channel, effect.channel_id, effect.cause))
                )
        return out

    async def _hand_off(self, call: C.Call, legs: list[C.DialLeg]) -> None:
        """Continue the caller's channel into Dial() with the decided destination(s)."""
        if call.ended:
            return
        first = legs[0]
        value = handoff.dial_arguments(
            [leg.target.dial_string for leg in legs], first.timeout, first.caller_id
        )
        ari = self.router.ari
        try:
            await ari.set_variable(first.caller_channel, handoff.DIAL_VARIABLE, value)
            await ari.continue_in_dialplan(
                first.caller_channel, context=handoff.CONTEXT, extension="s", priority=1
            )
        except AriNotFound:
            # The caller left meanwhile: its hangup handler never ran, so end the call here.
            self.router.apply(call, call.caller_hung_up(None))
            return
        log.debug(kv("leg.handoff", call=call.id, target=",".join(g.target.label for g in legs)))

    async def recover(self, call: C.Call, effect: C.Effect) -> list[C.Effect]:
        """A request failed with ARI unreachable. For the hand-off, Asterisk says whether it
        happened: the caller still in the app was not handed off, so the legs count as
        unavailable (the next trunk, or the end with 34); in callctl-dial it was; gone, the
        caller left. Anything else ends the call (34)."""
        if not isinstance(effect, C.DialLeg):
            return call.hangup(C.TEMPORARY)
        try:
            channel = await self.router.ari.channel(call.caller_channel)
        except AriNotFound:
            return call.caller_hung_up(None)
        where = channel.get("dialplan") if isinstance(channel.get("dialplan"), dict) else {}
        if (where or {}).get("context") == handoff.CONTEXT:
            return []  # the hand-off went through: Dial() has the call
        return call.legs_returned("CHANUNAVAIL", C.TEMPORARY)

    async def adopt(self, channel: Mapping[str, Any]) -> C.Call | None:
        """A caller an earlier daemon handed to Dial(): rebuilt from what that daemon set on
        it (CALLCTL_DIAL, re-checked) and what ARI shows (state, caller JID)."""
        channel_id = str(channel.get("id", ""))
        try:
            value = await self.router.ari.get_variable(channel_id, handoff.DIAL_VARIABLE)
        except (AriRequestError, AriUnavailable):
            return None
        found = handoff.read_dial_arguments(value)
        if found is None:
            log.warning(kv("call.not_adopted", channel=channel_id, reason="unreadable dial"))
            return None
        caller = channel.get("caller") if isinstance(channel.get("caller"), dict) else {}
        call = C.Call(
            id=new_call_id(),
            direction=C.Direction.OUTBOUND if found.outbound else C.Direction.INBOUND,
            caller_channel=channel_id,
            candidates=found.targets,
            started=self.router.clock(),
            ring_timeout=found.timeout,
            caller_key=caller_key(str((caller or {}).get("name", ""))) if found.outbound else None,
            number=found.number,
        )
        call.adopt(answered=channel.get("state") == "Up")
        return call

    # -- what AMI reports --------------------------------------------------------------------

    def report(self, news: handoff.Answered | handoff.Ended) -> None:
        """A caller's Dial() was answered, or a caller's channel hung up (AMI)."""
        call = self.router.call_of(news.channel)
        if call is None or call.caller_channel != news.channel:
            return  # not a handed-off caller (a leg, another app's channel, or already over)
        if isinstance(news, handoff.Answered):
            leg = call.first_live_leg()
            if leg is not None:
                self.router.apply(call, call.leg_answered(leg.channel_id, self.router.clock()))
        else:
            self.router.apply(call, call.caller_hung_up(news.cause))

    async def refresh(self) -> None:
        """An answer seen while AMI was down is not known; ask Asterisk for the callers'
        states when someone looks (`callctl calls`)."""
        waiting = [c for c in self.router.calls.values() if c.answered_leg is None and c.legs]
        for call in waiting:
            try:
                channel = await self.router.ari.channel(call.caller_channel)
            except (AriNotFound, AriRequestError, AriUnavailable):
                continue
            leg = call.first_live_leg()
            if channel.get("state") == "Up" and not call.ended and leg is not None:
                self.router.apply(call, call.leg_answered(leg.channel_id, self.router.clock()))
