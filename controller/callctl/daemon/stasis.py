"""ARI events -> routing decision -> call state machine -> ARI requests.

One `Router` owns every call. Events are handled one at a time in arrival order, and each
event's effects are queued on a per-call lock, so ARI requests for one call run in order while
calls never wait on each other. Channel ids of the legs are chosen here (`callctl-...`), so
the events of a leg are recognised even before the request that created it has returned.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callctl.asterisk.ari import AriNotFound, AriRequestError, AriUnavailable, Event
from callctl.daemon import calls as C
from callctl.daemon import handoff as fastpath
from callctl.daemon import reconcile
from callctl.daemon.logfmt import kv
from callctl.daemon.metrics import Metrics
from callctl.routing import RoutingConfig, dialstring, inbound, outbound
from callctl.routing.causes import Cause, ari_hangup_params
from callctl.routing.names import NAME_RE
from callctl.routing.numbers import NumberError, normalise

log = logging.getLogger("callctl.daemon.stasis")

FROM_JINGLE, FROM_TRUNK, LEG = "from-jingle", "from-trunk", "leg"
DIALED = "dialed"  # the fast path's Dial() came back: Stasis(callctl,dialed,STATUS,CAUSE)
# The only events the router reads. Asterisk sends dozens of ChannelVarset events per call
# besides (RTP statistics at hangup...): filtering them out at the source halves the work.
# StasisEnd is not read either (a channel's end comes as ChannelDestroyed, or on the fast
# path over AMI), and every fast-path call would cost one.
EVENTS = (
    "StasisStart",
    "Dial",
    "ChannelStateChange",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ApplicationReplaced",
)


class Ari(Protocol):
    """What the router needs from callctl.asterisk.ari.AriClient (a fake in unit tests)."""

    async def create_bridge(
        self, *, bridge_id: str | None = None, name: str | None = None, bridge_type: str = ...
    ) -> dict[str, Any]: ...
    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def create_channel(
        self,
        endpoint: str,
        *,
        app_args: list[str] = ...,
        channel_id: str | None = None,
        originator: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> dict[str, Any]: ...
    async def dial(
        self, channel_id: str, *, caller: str | None = None, timeout: int | None = None
    ) -> None: ...
    async def set_variable(self, channel_id: str, variable: str, value: str) -> None: ...
    async def continue_in_dialplan(
        self, channel_id: str, *, context: str, extension: str, priority: int = 1
    ) -> None: ...
    async def channel(self, channel_id: str) -> dict[str, Any]: ...
    async def answer(self, channel_id: str) -> None: ...
    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: int | None = None
    ) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def channels(self) -> list[dict[str, Any]]: ...
    async def bridges(self) -> list[dict[str, Any]]: ...
    async def application(self, name: str | None = None) -> dict[str, Any]: ...


class NumberJids(Protocol):
    """callctl.xmppgw.Gateway, as the router sees it: number JIDs through callctl's component."""

    def resolve_caller(self, caller_name: str) -> tuple[str, str] | None: ...
    def expect_inbound(
        self, target: str, caller_number: str | None, caller_name: str | None = None
    ) -> str: ...


def standin_dial_string(endpoint: str) -> str:
    """`PJSIP/<endpoint>`: a SIP endpoint standing in for a JID (tests without prosody)."""
    if NAME_RE.fullmatch(endpoint) is None:
        raise ValueError(f"not a valid endpoint name: {endpoint!r}")
    return f"PJSIP/{endpoint}"


@dataclass
class Router:
    ari: Ari
    config: RoutingConfig
    metrics: Metrics = field(default_factory=Metrics)
    standins: Mapping[str, str] = field(default_factory=dict)  # JID -> PJSIP endpoint
    clock: Callable[[], float] = time.monotonic
    accepting: bool = True  # False while draining: new calls are refused
    handoff: bool = False  # the fast path: decide here, let the dialplan's Dial() connect
    gateway: NumberJids | None = None  # callctl's XMPP component (callctl.xmppgw), if run
    calls: dict[str, C.Call] = field(default_factory=dict)
    _by_channel: dict[str, C.Call] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _entered: dict[str, asyncio.Event] = field(default_factory=dict)  # leg id -> StasisStart
    _bridges: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # call id -> setup
    leg_start_timeout: float = 5.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Active calls per caller (bare JID), kept as calls start and end: the per-caller limit
    # is checked on every outbound call, and counting all calls each time grew with the load.
    _active_by_caller: dict[str, int] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    # -- events ------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Feed one ARI event. Never raises for odd events: they are logged and dropped."""
        kind = event.type
        if kind == "ApplicationReplaced":
            log.error(kv("ari.app_replaced", detail="another client took over the Stasis app"))
            return
        if kind == "StasisStart":
            self._stasis_start(event)
            return
        if kind == "Dial":
            peer = event.data.get("peer")
            channel_id = peer.get("id") if isinstance(peer, dict) else None
            status = str(event.data.get("dialstatus", ""))
            call = self._by_channel.get(channel_id) if isinstance(channel_id, str) else None
            if call is None or not isinstance(channel_id, str):
                return
            effects = call.leg_dialstatus(channel_id, status)
            if status == "RINGING":
                effects += call.leg_ringing(channel_id)
            elif status == "PROGRESS":
                effects += call.leg_progress(channel_id)
            elif status == "ANSWER":
                effects += call.leg_answered(channel_id, self.clock())
            self._apply(call, effects)
            return
        channel_id = event.channel_id
        call = self._by_channel.get(channel_id) if channel_id else None
        if call is None or channel_id is None:
            return
        if kind == "ChannelStateChange":
            state = (event.channel or {}).get("state")
            if state == "Ringing":
                self._apply(call, call.leg_ringing(channel_id))
            elif state == "Up" and channel_id != call.caller_channel:
                self._apply(call, call.leg_answered(channel_id, self.clock()))
        elif kind in ("ChannelDestroyed", "ChannelHangupRequest"):
            cause = event.data.get("cause")
            cause = int(cause) if isinstance(cause, int) else None
            if kind == "ChannelHangupRequest" and (cause is None or event.data.get("soft")):
                # A soft hangup's "cause" is the soft-hangup flag (32 = explicit, e.g. ARI's
                # dial timeout), not a Q.850 cause: wait for ChannelDestroyed.
                return
            if channel_id == call.caller_channel:
                self._apply(call, call.caller_hung_up(cause))
            else:
                self._apply(call, call.leg_gone(channel_id, cause))

    def _stasis_start(self, event: Event) -> None:
        channel = event.channel or {}
        channel_id = event.channel_id
        args = event.args
        if args and args[0] == DIALED and channel_id is not None:
            self._dial_returned(channel_id, args[1:])
            return
        if channel_id is None or channel_id in self._by_channel:
            entered = self._entered.get(channel_id or "")
            if entered is not None:
                entered.set()  # one of our legs is in the app: it may join the bridge now
            return
        if not args or args[0] not in (FROM_JINGLE, FROM_TRUNK):
            log.warning(kv("call.unexpected", channel=channel_id, args=",".join(args)[:80]))
            self._spawn(self._hangup(channel_id, C.TEMPORARY))
            return
        dest = args[1] if len(args) > 1 else ""
        if not self.accepting:
            log.warning(
                kv("call.refused", channel=channel_id, reason="draining", cause=C.TEMPORARY)
            )
            self._count_refusal(args[0], "draining")
            self._spawn(self._hangup(channel_id, C.TEMPORARY))
            return
        if args[0] == FROM_JINGLE:
            call = self._outbound(channel_id, channel, dest)
        else:
            call = self._inbound(channel_id, dest, channel)
        if call is None:
            return
        call.handoff = self.handoff
        self.calls[call.id] = call
        if call.caller_key:
            self._active_by_caller[call.caller_key] = (
                self._active_by_caller.get(call.caller_key, 0) + 1
            )
        self._by_channel[channel_id] = call
        self.metrics.active_calls.set(len(self.calls))
        self._apply(call, call.start())

    def _outbound(self, channel_id: str, channel: Mapping[str, Any], dest: str) -> C.Call | None:
        caller = channel.get("caller") if isinstance(channel.get("caller"), dict) else {}
        # chan_motif puts the caller's full JID in the caller ID name.
        jid = str((caller or {}).get("name", ""))
        relayed = self.gateway.resolve_caller(jid) if self.gateway is not None else None
        if relayed is not None:
            # Through callctl's component: the name is a per-call token JID standing for the
            # real caller and the number JID it called ('' for the bare domain: the hotline).
            jid, dest = relayed
        decision = outbound(self.config, jid, dest, self._active_by_caller)
        if not decision.allowed:
            cause = int(decision.cause or Cause.CALL_REJECTED)
            log.info(
                kv(
                    "call.refused",
                    direction="outbound",
                    channel=channel_id,
                    caller=decision.caller,
                    number=decision.number,
                    reason=str(decision.reason),
                    cause=cause,
                )
            )
            self._count_refusal("outbound", str(decision.reason))
            self._spawn(self._hangup(channel_id, cause))
            return None
        call = C.Call(
            id=_new_id(),
            direction=C.Direction.OUTBOUND,
            caller_channel=channel_id,
            candidates=tuple(C.Candidate(leg.trunk, leg.dial_string) for leg in decision.legs),
            started=self.clock(),
            ring_timeout=decision.ring_timeout,
            caller_id=decision.caller_id,
            caller_key=decision.caller,
            number=decision.number,
        )
        log.info(
            kv(
                "call.start",
                call=call.id,
                direction="outbound",
                channel=channel_id,
                caller=decision.caller,
                number=decision.number,
                route=decision.route,
                trunks=",".join(decision.trunks),
                hotline=decision.hotline or None,
            )
        )
        return call

    def _inbound(self, channel_id: str, did: str, channel: Mapping[str, Any]) -> C.Call | None:
        decision = inbound(self.config, did)
        if not decision.allowed:
            cause = int(decision.cause or Cause.UNALLOCATED)
            log.info(
                kv(
                    "call.refused",
                    direction="inbound",
                    channel=channel_id,
                    number=decision.number,
                    reason=str(decision.reason),
                    cause=cause,
                )
            )
            self._count_refusal("inbound", str(decision.reason))
            self._spawn(self._hangup(channel_id, cause))
            return None
        candidates = tuple(
            C.Candidate(
                t.jid,
                standin_dial_string(self.standins[t.jid])
                if t.jid in self.standins
                else self._via_gateway(t.jid, channel)
                if self.gateway is not None
                else t.dial_string,
            )
            for t in decision.targets
        )
        call = C.Call(
            id=_new_id(),
            direction=C.Direction.INBOUND,
            caller_channel=channel_id,
            candidates=candidates,
            started=self.clock(),
            ring_timeout=decision.ring_timeout,
            parallel=str(decision.mode) == "parallel",
            number=decision.number,
        )
        log.info(
            kv(
                "call.start",
                call=call.id,
                direction="inbound",
                channel=channel_id,
                number=decision.number,
                mode=str(decision.mode),
                jids=",".join(t.jid for t in decision.targets),
            )
        )
        return call

    def _via_gateway(self, jid: str, channel: Mapping[str, Any]) -> str:
        """The Motif dial string to the component's token JID for `jid`: the user's devices
        get the call from +CALLER@gateway (the trunk's caller ID, normalised; else anonymous)."""
        assert self.gateway is not None
        caller = channel.get("caller") if isinstance(channel.get("caller"), dict) else {}
        raw, name = str((caller or {}).get("number", "")), str((caller or {}).get("name", ""))
        try:
            number: str | None = normalise(raw, self.config.numbering)
        except NumberError:
            number = None
        relay = self.gateway.expect_inbound(jid, number, name or None)
        return dialstring.motif(self.config.motif_endpoint, relay)

    def _dial_returned(self, channel_id: str, args: list[str]) -> None:
        call = self._by_channel.get(channel_id)
        if call is None or call.caller_channel != channel_id:
            # E.g. the controller restarted while Dial() rang: nobody knows this call.
            log.warning(kv("call.unknown_return", channel=channel_id))
            self._spawn(self._hangup(channel_id, C.TEMPORARY))
            return
        status = args[0] if args else ""
        cause = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
        self._apply(call, call.dial_returned(status, cause))

    def report(self, news: fastpath.Answered | fastpath.Ended) -> None:
        """Fast path: a caller's Dial() was answered, or a caller's channel hung up (AMI)."""
        call = self._by_channel.get(news.channel)
        if call is None or not call.handoff or call.caller_channel != news.channel:
            return  # not a handed-off caller (a leg, another app's channel, or already over)
        if isinstance(news, fastpath.Answered):
            if call.legs:
                self._apply(call, call.leg_answered(call.legs[-1].channel_id, self.clock()))
        else:
            self._apply(call, call.handoff_ended(news.cause, self.clock()))

    async def refresh(self) -> None:
        """Fast path: an answer seen while AMI was down is not known; ask Asterisk for the
        callers' states when someone looks (`callctl calls`)."""
        waiting = [
            c
            for c in self.calls.values()
            if c.handoff and c.answered_leg is None and c.legs and not c.ended
        ]
        for call in waiting:
            try:
                channel = await self.ari.channel(call.caller_channel)
            except (AriNotFound, AriRequestError, AriUnavailable):
                continue
            if isinstance(channel, dict) and channel.get("state") == "Up" and not call.ended:
                call.leg_answered(call.legs[-1].channel_id, self.clock())

    def _count_refusal(self, direction: str, reason: str) -> None:
        self.metrics.calls.inc(direction=direction, outcome=f"refused-{reason}")

    # -- effects -----------------------------------------------------------------------------

    def _apply(self, call: C.Call, effects: list[C.Effect]) -> None:
        if not effects:
            return
        for effect in effects:
            if isinstance(effect, C.DialLeg):
                self._by_channel[effect.channel_id] = call
                self._entered[effect.channel_id] = asyncio.Event()
                if len(call.legs) > 1 and not call.parallel:
                    prev = call.legs[-2]
                    self.metrics.failovers.inc(direction=str(call.direction))
                    log.info(
                        kv(
                            "leg.next",
                            call=call.id,
                            failed=prev.candidate.label,
                            cause=prev.cause,
                            next=call.legs[-1].candidate.label,
                        )
                    )
            elif isinstance(effect, C.Finished):
                self._finished(call, effect)
        lock = self._locks.setdefault(call.id, asyncio.Lock())
        self._spawn(self._perform(call, lock, effects))

    def _finished(self, call: C.Call, done: C.Finished) -> None:
        if self.calls.pop(call.id, None) is not None and call.caller_key:
            left = self._active_by_caller.get(call.caller_key, 1) - 1
            if left > 0:
                self._active_by_caller[call.caller_key] = left
            else:
                self._active_by_caller.pop(call.caller_key, None)
        bridge = self._bridges.pop(call.id, None)
        if bridge is not None and bridge.done() and not bridge.cancelled():
            bridge.exception()  # retrieved: a failed setup was already handled by the leg
        for channel_id in call.channel_ids():
            self._by_channel.pop(channel_id, None)
            entered = self._entered.pop(channel_id, None)
            if entered is not None:
                entered.set()  # a pending dial wakes up, sees the call ended, gives up
        self.metrics.active_calls.set(len(self.calls))
        self.metrics.calls.inc(direction=str(call.direction), outcome=done.outcome)
        setup = call.setup_seconds()
        if setup is not None:
            self.metrics.setup_seconds.observe(setup)
        log.info(
            kv(
                "call.end",
                call=call.id,
                direction=str(call.direction),
                outcome=done.outcome,
                cause=done.cause,
                trunk=call.trunk,
                setup_ms=None if setup is None else round(setup * 1000, 1),
                legs=len(call.legs),
            )
        )
        if not self.calls:
            self.ended.set()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _perform(self, call: C.Call, lock: asyncio.Lock, effects: list[C.Effect]) -> None:
        async with lock:
            for effect in effects:
                try:
                    await self._do(call, effect)
                except AriUnavailable as err:
                    # Asterisk is gone or unreachable: reconcile after reconnect cleans up.
                    log.warning(
                        kv(
                            "ari.effect_failed",
                            call=call.id,
                            effect=type(effect).__name__,
                            error=err.message,
                        )
                    )
                except Exception:  # a bug must not silence the other calls' requests
                    log.exception(
                        kv("ari.effect_error", call=call.id, effect=type(effect).__name__)
                    )
        if call.ended:
            # Tasks already queued hold their own reference; an ended call gets no more.
            self._locks.pop(call.id, None)

    async def _do(self, call: C.Call, effect: C.Effect) -> None:
        if isinstance(effect, C.SetupBridge):
            # Runs alongside the first leg's creation; the leg waits for it before joining.
            self._bridges[call.id] = asyncio.ensure_future(self._setup_bridge(call, effect))
        elif isinstance(effect, C.DialLeg):
            if call.handoff:
                await self._hand_off(call, effect)
            else:
                await self._dial(call, effect)
        elif isinstance(effect, C.Answer):
            await self._quiet(self.ari.answer(effect.channel_id))
        elif isinstance(effect, C.Hangup):
            await self._hangup(effect.channel_id, effect.cause)
        elif isinstance(effect, C.DestroyBridge):
            await self._quiet(self.ari.destroy_bridge(effect.bridge_id))

    async def _setup_bridge(self, call: C.Call, setup: C.SetupBridge) -> None:
        steps: list[Awaitable[Any]] = [
            self.ari.create_bridge(bridge_id=setup.bridge_id, name=call.id)
        ]
        if setup.caller_id:
            # A validated E.164 number from the config, never caller-supplied text.
            number = setup.caller_id
            steps.append(
                self.ari.set_variable(
                    setup.caller_channel, "CALLERID(all)", f'"{number}" <{number}>'
                )
            )
        await asyncio.gather(*steps)
        await self.ari.add_channels(setup.bridge_id, [setup.caller_channel])

    async def _dial(self, call: C.Call, leg: C.DialLeg) -> None:
        try:
            await self.ari.create_channel(
                leg.endpoint,
                app_args=[LEG, call.id],
                channel_id=leg.channel_id,
                originator=leg.caller_channel,
            )
            # A created channel enters the app asynchronously; until its StasisStart it
            # cannot join a bridge (422) nor be dialled.
            entered = self._entered.get(leg.channel_id)
            if entered is not None:
                try:
                    await asyncio.wait_for(entered.wait(), self.leg_start_timeout)
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
                await self._quiet(self.ari.hangup(leg.channel_id))
                return
            await self.ari.add_channels(leg.bridge_id, [leg.channel_id])
            # No `caller=`: dial would copy the caller's ID (the JID) onto the connected line,
            # which PJSIP sends as From; the leg carries the mapped number instead.
            await self.ari.dial(leg.channel_id, timeout=leg.timeout)
        except AriRequestError as err:
            # E.g. no such endpoint: this trunk cannot take the call; maybe the next can.
            log.warning(
                kv(
                    "leg.failed",
                    call=call.id,
                    channel=leg.channel_id,
                    target=leg.endpoint,
                    error=err.message,
                )
            )
            await self._quiet(self.ari.hangup(leg.channel_id))
            call_leg = call.leg(leg.channel_id)
            if call_leg is not None:
                call_leg.dialstatus = "CHANUNAVAIL"
            self._apply(call, call.leg_gone(leg.channel_id, int(Cause.DESTINATION_OUT_OF_ORDER)))
            return
        log.info(kv("leg.dial", call=call.id, channel=leg.channel_id, target=leg.endpoint))

    async def _hand_off(self, call: C.Call, leg: C.DialLeg) -> None:
        """Continue the caller's channel into Dial() with the decided destination(s)."""
        if call.ended:
            return
        value = fastpath.dial_arguments(leg.endpoint.split("&"), leg.timeout, leg.caller_id)
        try:
            await self.ari.set_variable(leg.caller_channel, fastpath.DIAL_VARIABLE, value)
            await self.ari.continue_in_dialplan(
                leg.caller_channel, context=fastpath.CONTEXT, extension="s", priority=1
            )
        except AriNotFound:
            # The caller left meanwhile: its hangup handler never ran, so end the call here.
            self._apply(call, call.caller_hung_up(None))
            return
        log.debug(kv("leg.handoff", call=call.id, target=leg.endpoint))

    async def _hangup(self, channel_id: str, cause: int) -> None:
        params = ari_hangup_params(cause)
        reason = params.get("reason")
        code = int(params["reason_code"]) if "reason_code" in params else None
        await self._quiet(self.ari.hangup(channel_id, reason=reason, reason_code=code))

    async def _quiet(self, coro: Any) -> None:
        """Run an ARI request whose target may already be gone (404/409/412 are fine)."""
        try:
            await coro
        except AriNotFound:
            pass
        except AriRequestError as err:
            log.debug(kv("ari.refused", error=err.message))

    # -- outside requests --------------------------------------------------------------------

    def hangup_call(self, call_id: str, cause: int = Cause.NORMAL_CLEARING) -> bool:
        call = self.calls.get(call_id)
        if call is None:
            return False
        log.info(kv("call.hangup_requested", call=call.id, cause=int(cause)))
        self._apply(call, call.hangup(int(cause)))
        return True

    def hangup_all(self, cause: int = C.TEMPORARY) -> None:
        for call_id in list(self.calls):
            self.hangup_call(call_id, cause)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until every queued ARI request has been performed."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    def snapshot(self) -> list[dict[str, object]]:
        now = self.clock()
        return [call.to_dict(now) for call in self.calls.values()]

    # -- reconcile ---------------------------------------------------------------------------

    def reconcile_soon(self, app_name: str) -> None:
        """Reconcile in the background (after an AMI reconnect: its events were lost)."""
        self._spawn(self._reconcile_logged(app_name))

    async def _reconcile_logged(self, app_name: str) -> None:
        try:
            plan = await self.reconcile(app_name)
        except AriUnavailable as err:
            log.warning(kv("reconcile.failed", error=err.message))
            return
        log.info(kv("ami.reconciled", calls=len(self.calls), lost=len(plan.lost)))

    async def reconcile(self, app_name: str) -> reconcile.Plan:
        """Re-read channels and bridges, settle what was missed, remove orphans."""
        channels = await self.ari.channels()
        bridges = await self.ari.bridges()
        try:
            app: dict[str, Any] | None = await self.ari.application(app_name)
        except AriNotFound:
            app = None
        snap = reconcile.Snapshot.from_ari(channels, bridges, app)
        plan = reconcile.plan(list(self.calls.values()), snap)
        for call_id, leg_id in plan.answered:
            call = self.calls.get(call_id)
            if call is not None:
                self._apply(call, call.leg_answered(leg_id, self.clock()))
        for call_id, channel_id in plan.lost:
            call = self.calls.get(call_id)
            if call is not None:
                self.metrics.orphans.inc(kind="call")
                self._apply(call, C.lost(call, channel_id))
        for channel_id in plan.orphan_channels:
            self.metrics.orphans.inc(kind="channel")
            self._spawn(self._hangup(channel_id, C.TEMPORARY))
        for bridge_id in plan.orphan_bridges:
            self.metrics.orphans.inc(kind="bridge")
            self._spawn(self._quiet(self.ari.destroy_bridge(bridge_id)))
        if not plan.empty:
            log.warning(
                kv(
                    "reconcile",
                    lost=len(plan.lost),
                    answered=len(plan.answered),
                    orphan_channels=len(plan.orphan_channels),
                    orphan_bridges=len(plan.orphan_bridges),
                )
            )
        return plan


def _new_id() -> str:
    return f"{reconcile.ID_PREFIX}{secrets.token_hex(6)}"
