"""Bridge mode (`callctl run --dispatch bridge`): every step of a call over ARI.

Each leg is a channel of ours (`POST /channels/create`, then `dial`) that joins a Stasis
mixing bridge the daemon creates for the call; the daemon answers the caller, hangs up the
other legs and destroys the bridge itself. This module turns the call machine's effects into
those requests, in order (the router runs them under the call's lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from callctl.asterisk.ari import AriRequestError
from callctl.daemon import calls as C
from callctl.daemon.logfmt import kv
from callctl.routing.causes import Cause

if TYPE_CHECKING:
    from callctl.daemon.stasis import Router, Step

log = logging.getLogger("callctl.daemon.bridge")

LEG = "leg"  # appArgs of the channels created for legs


class BridgeDispatch:
    legs_are_channels = True  # reconcile looks each leg up among Asterisk's channels

    def __init__(self, router: Router, *, leg_start_timeout: float = 5.0) -> None:
        self.router = router
        self.leg_start_timeout = leg_start_timeout
        self._entered: dict[str, asyncio.Event] = {}  # leg id -> its StasisStart came
        self._bridges: dict[str, asyncio.Future[None]] = {}  # call id -> bridge set up

    def returned(self, channel_id: str, args: list[str]) -> bool:
        return False  # no call of this mode leaves the app

    def leg_entered(self, channel_id: str) -> None:
        # One of our legs is in the app: it may join the bridge now.
        self._entered.setdefault(channel_id, asyncio.Event()).set()

    def finished(self, call: C.Call) -> None:
        bridge = self._bridges.pop(call.id, None)
        if bridge is not None and bridge.done() and not bridge.cancelled():
            bridge.exception()  # retrieved: a failed setup was already handled by the leg
        for channel_id in call.channel_ids():
            entered = self._entered.pop(channel_id, None)
            if entered is not None:
                entered.set()  # a pending dial wakes up, sees the call ended, gives up

    def steps(self, call: C.Call, effects: list[C.Effect]) -> list[Step]:
        out: list[Step] = []
        ari = self.router.ari
        for effect in effects:
            if isinstance(effect, C.SetupBridge):
                out.append((effect, partial(self._start_bridge, call, effect)))
            elif isinstance(effect, C.DialLeg):
                self._entered.setdefault(effect.channel_id, asyncio.Event())
                out.append((effect, partial(self._dial, call, effect)))
            elif isinstance(effect, C.Answer):
                out.append((effect, partial(self.router.quiet, ari.answer, effect.channel_id)))
            elif isinstance(effect, C.Hangup):
                out.append(
                    (effect, partial(self.router.hangup_channel, effect.channel_id, effect.cause))
                )
            elif isinstance(effect, C.DestroyBridge):
                out.append(
                    (effect, partial(self.router.quiet, ari.destroy_bridge, effect.bridge_id))
                )
        return out

    async def _start_bridge(self, call: C.Call, setup: C.SetupBridge) -> None:
        # Runs alongside the first leg's creation; the leg waits for it before joining.
        self._bridges[call.id] = asyncio.ensure_future(self._setup_bridge(call, setup))

    async def _setup_bridge(self, call: C.Call, setup: C.SetupBridge) -> None:
        ari = self.router.ari
        steps: list[Awaitable[Any]] = [ari.create_bridge(bridge_id=setup.bridge_id, name=call.id)]
        if setup.caller_id:
            # A validated E.164 number from the config, never caller-supplied text. Set on
            # the caller before it joins: the bridge copies it to the leg's From.
            number = setup.caller_id
            steps.append(
                ari.set_variable(setup.caller_channel, "CALLERID(all)", f'"{number}" <{number}>')
            )
        await asyncio.gather(*steps)
        await ari.add_channels(setup.bridge_id, [setup.caller_channel])

    async def _dial(self, call: C.Call, leg: C.DialLeg) -> None:
        ari = self.router.ari
        try:
            await ari.create_channel(
                leg.target.dial_string,
                app_args=[LEG, call.id],
                channel_id=leg.channel_id,
                originator=leg.caller_channel,
            )
            # A created channel enters the app asynchronously; until its StasisStart it
            # cannot join a bridge (422) nor be dialled.
            entered = self._entered.get(leg.channel_id)
            if entered is not None:
                try:
                    async with asyncio.timeout(self.leg_start_timeout):
                        await entered.wait()
                except TimeoutError:
                    raise AriRequestError(
                        "the new channel never entered the app",
                        http_status=0,
                        ari_message="no StasisStart",
                    ) from None
            bridge = self._bridges.get(call.id)
            if bridge is not None:
                await bridge
            if call.ended:  # e.g. the caller hung up meanwhile: do not ring anyone
                await self.router.quiet(ari.hangup, leg.channel_id)
                return
            await ari.add_channels(leg.bridge_id, [leg.channel_id])
            # No `caller=`: dial would copy the caller's ID (the JID) onto the connected line,
            # which PJSIP sends as From; the leg carries the mapped number instead.
            await ari.dial(leg.channel_id, timeout=leg.timeout)
        except AriRequestError as err:
            # E.g. no such endpoint: this trunk cannot take the call; maybe the next can.
            log.warning(
                kv(
                    "leg.failed",
                    call=call.id,
                    channel=leg.channel_id,
                    target=leg.target.dial_string,
                    error=err.message,
                )
            )
            await self.router.quiet(ari.hangup, leg.channel_id)
            self.leg_failed(call, leg)
            return
        log.info(kv("leg.dial", call=call.id, channel=leg.channel_id, target=leg.target.label))

    async def recover(self, call: C.Call, effect: C.Effect) -> list[C.Effect]:
        """A request failed with ARI unreachable: a leg that could not be placed is given up
        (the next target may take the call); anything else ends the call (34)."""
        if isinstance(effect, C.DialLeg):
            await self.router.quiet(self.router.ari.hangup, effect.channel_id)
            call_leg = call.leg(effect.channel_id)
            if call_leg is not None:
                call_leg.dialstatus = "CHANUNAVAIL"
            return call.leg_gone(effect.channel_id, C.TEMPORARY)
        return call.hangup(C.TEMPORARY)

    async def adopt(self, channel: Mapping[str, Any]) -> C.Call | None:
        return None  # a bridged call cannot outlive its daemon (reconcile ends it)

    def leg_failed(self, call: C.Call, leg: C.DialLeg) -> None:
        """The leg could not be placed: the call decides (the next target, or the end)."""
        call_leg = call.leg(leg.channel_id)
        if call_leg is not None:
            call_leg.dialstatus = "CHANUNAVAIL"
        self.router.apply(call, call.leg_gone(leg.channel_id, int(Cause.DESTINATION_OUT_OF_ORDER)))
