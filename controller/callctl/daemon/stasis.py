"""ARI events -> routing decision -> call state machine -> the dispatch mode's requests.

One `Router` owns every call. Events are handled one at a time in arrival order, and each
event's effects are queued on a per-call lock, so ARI requests for one call run in order while
calls never wait on each other. Channel ids of the legs are chosen here (`callctl-...`), so
the events of a leg are recognised even before the request that created it has returned.
How effects become requests is the dispatch mode's: callctl.daemon.bridge (every leg over
ARI) or callctl.daemon.dialplan (the fast path, Dial() in the dialplan).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callctl.asterisk.ari import AriNotFound, AriRequestError, AriUnavailable, Event
from callctl.daemon import calls as C
from callctl.daemon import handoff, reconcile
from callctl.daemon.bridge import BridgeDispatch
from callctl.daemon.dialplan import DialplanDispatch
from callctl.daemon.logfmt import kv
from callctl.daemon.metrics import Metrics
from callctl.routing import RoutingConfig, dialstring, inbound, outbound
from callctl.routing.causes import Cause, ari_hangup_reason
from callctl.routing.dialstring import DialTarget
from callctl.routing.numbers import NumberError, normalise

log = logging.getLogger("callctl.daemon.stasis")


def _log_call(event: str, call: C.Call, **fields: object) -> None:
    """A call's start or end: its id and direction, then `fields` (None ones left out)."""
    log.info(kv(event, call=call.id, direction=str(call.direction), **fields))


FROM_JINGLE, FROM_TRUNK = "from-jingle", "from-trunk"
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
    async def get_variable(self, channel_id: str, variable: str) -> str: ...
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


Step = tuple[C.Effect, Callable[[], Awaitable[None]]]  # an effect and the request(s) doing it


class Dispatch(Protocol):
    """A dispatch mode: how the call machine's effects become requests to Asterisk."""

    legs_are_channels: bool  # a leg is a channel of ours (reconcile looks it up)

    def steps(self, call: C.Call, effects: list[C.Effect]) -> list[Step]: ...
    async def recover(self, call: C.Call, effect: C.Effect) -> list[C.Effect]: ...
    def returned(self, channel_id: str, args: list[str]) -> bool: ...
    def leg_entered(self, channel_id: str) -> None: ...
    def finished(self, call: C.Call) -> None: ...
    async def adopt(self, channel: Mapping[str, Any]) -> C.Call | None: ...


DISPATCH = {"dialplan": DialplanDispatch, "bridge": BridgeDispatch}


@dataclass
class Router:
    ari: Ari
    config: RoutingConfig
    metrics: Metrics = field(default_factory=Metrics)
    standins: Mapping[str, str] = field(default_factory=dict)  # JID -> PJSIP endpoint
    clock: Callable[[], float] = time.monotonic
    accepting: bool = True  # False while draining: new calls are refused
    dispatch: str = "bridge"  # "dialplan": decide here, let the dialplan's Dial() connect
    app: str = "callctl"  # the Stasis app, for reconciles the router starts itself
    # A live call waits at most this long for its next request to succeed; then the daemon
    # decides it (hangs it up, 34) and counts it as rescued.
    rescue_after: float = 10.0
    # A caller a reconcile found in the app unknown is hung up only if still unknown after
    # this long (its StasisStart may have been on the way).
    orphan_grace: float = 2.0
    gateway: NumberJids | None = None  # callctl's XMPP component (callctl.xmppgw), if run
    calls: dict[str, C.Call] = field(default_factory=dict)
    _by_channel: dict[str, C.Call] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Active calls per caller (bare JID), kept as calls start and end: the per-caller limit
    # is checked on every outbound call, and counting all calls each time grew with the load.
    _active_by_caller: dict[str, int] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _unsettled: dict[str, float] = field(default_factory=dict)  # call id -> waiting since
    _queued: dict[str, int] = field(default_factory=dict)  # call id -> batches not yet done
    _stranded: dict[str, int] = field(default_factory=dict)  # channel -> cause: hangup failed
    _reconcile_wanted: bool = False
    _suspects: dict[str, float] = field(default_factory=dict)  # channel -> unknown since
    mode: Dispatch = field(init=False)
    _standin_targets: dict[str, DialTarget] = field(init=False)

    def __post_init__(self) -> None:
        self.mode = DISPATCH[self.dispatch](self)
        # `--standin JID=ENDPOINT`: that JID rings at a SIP endpoint; built once, here.
        self._standin_targets = {
            jid: dialstring.endpoint_target(jid, endpoint)
            for jid, endpoint in self.standins.items()
        }

    def call_of(self, channel_id: str) -> C.Call | None:
        return self._by_channel.get(channel_id)

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
            self.apply(call, effects)
            return
        channel_id = event.channel_id
        call = self._by_channel.get(channel_id) if channel_id else None
        if call is None or channel_id is None:
            return
        if kind == "ChannelStateChange":
            state = (event.channel or {}).get("state")
            if state == "Ringing":
                self.apply(call, call.leg_ringing(channel_id))
            elif state == "Up" and channel_id != call.caller_channel:
                self.apply(call, call.leg_answered(channel_id, self.clock()))
        elif kind in ("ChannelDestroyed", "ChannelHangupRequest"):
            cause = event.data.get("cause")
            cause = int(cause) if isinstance(cause, int) else None
            if kind == "ChannelHangupRequest" and (cause is None or event.data.get("soft")):
                # A soft hangup's "cause" is the soft-hangup flag (32 = explicit, e.g. ARI's
                # dial timeout), not a Q.850 cause: wait for ChannelDestroyed.
                return
            if channel_id == call.caller_channel:
                self.apply(call, call.caller_hung_up(cause))
            else:
                self.apply(call, call.leg_gone(channel_id, cause))

    def _stasis_start(self, event: Event) -> None:
        channel = event.channel or {}
        channel_id = event.channel_id
        args = event.args
        if channel_id is not None and self.mode.returned(channel_id, args):
            return
        if channel_id is None or channel_id in self._by_channel:
            if channel_id is not None:
                self.mode.leg_entered(channel_id)
            return
        if not args or args[0] not in (FROM_JINGLE, FROM_TRUNK):
            log.warning(kv("call.unexpected", channel=channel_id, args=",".join(args)[:80]))
            self.spawn(self.hangup_channel(channel_id, C.TEMPORARY))
            return
        dest = args[1] if len(args) > 1 else ""
        if not self.accepting:
            log.warning(
                kv("call.refused", channel=channel_id, reason="draining", cause=C.TEMPORARY)
            )
            self._count_refusal(args[0], "draining")
            self.spawn(self.hangup_channel(channel_id, C.TEMPORARY))
            return
        if args[0] == FROM_JINGLE:
            call = self._outbound(channel_id, channel, dest)
        else:
            call = self._inbound(channel_id, dest, channel)
        if call is None:
            return
        self._register(call)
        self.apply(call, call.start())

    def _register(self, call: C.Call) -> None:
        self.calls[call.id] = call
        if call.caller_key:
            self._active_by_caller[call.caller_key] = (
                self._active_by_caller.get(call.caller_key, 0) + 1
            )
        for channel_id in call.channel_ids():
            self._by_channel[channel_id] = call
        self.metrics.active_calls.set(len(self.calls))

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
            self._refuse(
                "outbound",
                channel_id,
                str(decision.reason),
                cause,
                caller=decision.caller,
                number=decision.number,
            )
            return None
        return self._start_call(
            C.Call(
                id=reconcile.new_call_id(),
                direction=C.Direction.OUTBOUND,
                caller_channel=channel_id,
                candidates=decision.legs,
                started=self.clock(),
                ring_timeout=decision.ring_timeout,
                caller_id=decision.caller_id,
                caller_key=decision.caller,
                number=decision.number,
            ),
            route=decision.route,
            trunks=",".join(decision.trunks),
            hotline=decision.hotline or None,
        )

    def _inbound(self, channel_id: str, did: str, channel: Mapping[str, Any]) -> C.Call | None:
        decision = inbound(self.config, did)
        if not decision.allowed:
            cause = int(decision.cause or Cause.UNALLOCATED)
            self._refuse("inbound", channel_id, str(decision.reason), cause, number=decision.number)
            return None
        candidates = tuple(
            self._standin_targets.get(t.label)
            or (self._via_gateway(t.label, channel) if self.gateway is not None else t)
            for t in decision.targets
        )
        return self._start_call(
            C.Call(
                id=reconcile.new_call_id(),
                direction=C.Direction.INBOUND,
                caller_channel=channel_id,
                candidates=candidates,
                started=self.clock(),
                ring_timeout=decision.ring_timeout,
                parallel=str(decision.mode) == "parallel",
                number=decision.number,
            ),
            mode=str(decision.mode),
            jids=",".join(decision.jids),
        )

    @staticmethod
    def _start_call(call: C.Call, **route: object) -> C.Call:
        """Log a new call (call.start: who calls what, then how it is routed) and return it."""
        _log_call(
            "call.start",
            call,
            channel=call.caller_channel,
            caller=call.caller_key,  # outbound only (None is left out)
            number=call.number,
            **route,
        )
        return call

    def _via_gateway(self, jid: str, channel: Mapping[str, Any]) -> DialTarget:
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
        return DialTarget(jid, dialstring.motif(self.config.motif_endpoint, relay))

    def _refuse(
        self, direction: str, channel_id: str, reason: str, cause: int, **facts: str | None
    ) -> None:
        """The routing decision said no: log it, count it, hang up with its cause."""
        log.info(
            kv(
                "call.refused",
                direction=direction,
                channel=channel_id,
                **facts,
                reason=reason,
                cause=cause,
            )
        )
        self._count_refusal(direction, reason)
        self.spawn(self.hangup_channel(channel_id, cause))

    def _count_refusal(self, direction: str, reason: str) -> None:
        self.metrics.calls.inc(direction=direction, outcome=f"refused-{reason}")

    # -- effects -----------------------------------------------------------------------------

    def apply(self, call: C.Call, effects: list[C.Effect]) -> None:
        """Queue the effects' requests behind the call's earlier ones."""
        if not effects:
            return
        for effect in effects:
            if isinstance(effect, C.DialLeg):
                self._by_channel[effect.channel_id] = call
                if len(call.legs) > 1 and not call.parallel:
                    prev = call.legs[-2]
                    self.metrics.failovers.inc(direction=str(call.direction))
                    log.info(
                        kv(
                            "leg.next",
                            call=call.id,
                            failed=prev.target.label,
                            cause=prev.cause,
                            next=call.legs[-1].target.label,
                        )
                    )
            elif isinstance(effect, C.Finished):
                self._finished(call, effect)
        self._unsettled.setdefault(call.id, self.clock())
        self._queued[call.id] = self._queued.get(call.id, 0) + 1
        lock = self._locks.setdefault(call.id, asyncio.Lock())
        self.spawn(self._perform(call, lock, effects))

    def _finished(self, call: C.Call, done: C.Finished) -> None:
        if self.calls.pop(call.id, None) is not None and call.caller_key:
            left = self._active_by_caller.get(call.caller_key, 1) - 1
            if left > 0:
                self._active_by_caller[call.caller_key] = left
            else:
                self._active_by_caller.pop(call.caller_key, None)
        self.mode.finished(call)
        for channel_id in call.channel_ids():
            self._by_channel.pop(channel_id, None)
        self.metrics.active_calls.set(len(self.calls))
        self.metrics.calls.inc(direction=str(call.direction), outcome=done.outcome)
        setup = call.setup_seconds()
        if setup is not None:
            self.metrics.setup_seconds.observe(setup)
        _log_call(
            "call.end",
            call,
            outcome=done.outcome,
            cause=done.cause,
            trunk=call.trunk,
            setup_ms=None if setup is None else round(setup * 1000, 1),
            legs=len(call.legs),
        )
        if not self.calls:
            self.ended.set()

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        # AriUnavailable: what failed was recorded for the sweep (e.g. a stranded hangup).
        if error is not None and not isinstance(error, AriUnavailable):
            log.error(kv("router.task_failed", error=repr(error)[:200]))

    async def _perform(self, call: C.Call, lock: asyncio.Lock, effects: list[C.Effect]) -> None:
        ok = True
        async with lock:
            for effect, run in self.mode.steps(call, effects):
                try:
                    await run()
                except AriUnavailable as err:
                    # The client already retried what was safe to: never only logged, the
                    # call is decided now (or its hangup retried until it goes through).
                    log.warning(
                        kv(
                            "ari.effect_failed",
                            call=call.id,
                            effect=type(effect).__name__,
                            error=err.message,
                        )
                    )
                    ok = False
                    self._effect_failed(call, effect)
                    break  # the rest depended on it
                except Exception:  # a bug must not silence the other calls' requests
                    log.exception(
                        kv("ari.effect_error", call=call.id, effect=type(effect).__name__)
                    )
        left = self._queued.get(call.id, 1) - 1
        if left > 0:
            self._queued[call.id] = left
        else:
            self._queued.pop(call.id, None)
            if ok or call.ended:
                self._unsettled.pop(call.id, None)
        if call.ended:
            # Tasks already queued hold their own reference; an ended call gets no more.
            self._locks.pop(call.id, None)

    def _effect_failed(self, call: C.Call, effect: C.Effect) -> None:
        if isinstance(effect, C.Hangup):
            self._stranded[effect.channel_id] = effect.cause  # the sweep tries it again
        if call.ended:
            self._reconcile_wanted = True  # e.g. a bridge left behind: the sweep cleans up
            return
        self.metrics.rescued.inc(reason="effect-failed")
        self.spawn(self._decide_after(call, effect))

    async def _decide_after(self, call: C.Call, effect: C.Effect) -> None:
        """A live call's request failed: let the mode decide (the next target, or the end);
        whatever it cannot settle ends with 34 ("try again later", SIP 503)."""
        try:
            effects = await self.mode.recover(call, effect)
        except AriUnavailable:
            effects = call.hangup(C.TEMPORARY)
        log.warning(kv("call.rescued", call=call.id, reason="effect-failed", effects=len(effects)))
        if not effects and not self._queued.get(call.id):
            self._unsettled.pop(call.id, None)  # nothing left to do: Asterisk has the call
        self.apply(call, effects)

    # -- the bound on waiting ------------------------------------------------------------------

    async def watch(self, interval: float = 1.0) -> None:
        """Forever: `sweep()` every `interval` seconds (the daemon runs this as a task)."""
        while True:
            await asyncio.sleep(interval)
            self.sweep()

    def sweep(self) -> None:
        """Enforce the bound: a live call whose requests have not gone through for
        `rescue_after` seconds is hung up (34) and counted; failed hangups are tried again;
        a reconcile asked for by a failure runs."""
        now = self.clock()
        for channel_id, cause in list(self._stranded.items()):
            self.spawn(self._retry_hangup(channel_id, cause))
        for channel_id, since in list(self._suspects.items()):
            if channel_id in self._by_channel:
                del self._suspects[channel_id]  # its StasisStart came: a call of ours
            elif now - since >= self.orphan_grace:
                del self._suspects[channel_id]
                self.metrics.orphans.inc(kind="channel")
                self.spawn(self.hangup_channel(channel_id, C.TEMPORARY))
        for call_id, since in list(self._unsettled.items()):
            call = self.calls.get(call_id)
            if call is None:
                self._unsettled.pop(call_id, None)
                continue
            if now - since < self.rescue_after:
                continue
            self._unsettled.pop(call_id, None)
            self.metrics.rescued.inc(reason="stalled")
            log.warning(
                kv("call.rescued", call=call.id, reason="stalled", waited_s=round(now - since, 1))
            )
            self.apply(call, call.hangup(C.TEMPORARY))
        if self._reconcile_wanted:
            self._reconcile_wanted = False
            self.reconcile_soon(self.app)

    async def _retry_hangup(self, channel_id: str, cause: int) -> None:
        reason, code = ari_hangup_reason(cause)
        try:
            await self.ari.hangup(channel_id, reason=reason, reason_code=code)
        except AriRequestError:  # 404: gone meanwhile, which is what was wanted
            pass
        except AriUnavailable:
            return  # still unreachable: the next sweep tries again
        self._stranded.pop(channel_id, None)

    async def hangup_channel(self, channel_id: str, cause: int) -> None:
        reason, code = ari_hangup_reason(cause)
        try:
            await self.quiet(self.ari.hangup, channel_id, reason=reason, reason_code=code)
        except AriUnavailable:
            # Outside a call (a refusal, an orphan) nothing else would retry it.
            self._stranded[channel_id] = cause
            raise

    async def quiet(
        self, request: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> None:
        """Run an ARI request whose target may already be gone (404/409/412 are fine)."""
        try:
            await request(*args, **kwargs)
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
        self.apply(call, call.hangup(int(cause)))
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
        self.spawn(self._reconcile_logged(app_name))

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
        plan = reconcile.plan(
            list(self.calls.values()),
            snap,
            self.mode.legs_are_channels,
            handoff_context=None if self.mode.legs_are_channels else handoff.CONTEXT,
        )
        by_id = {str(c.get("id")): c for c in channels}
        for channel_id in plan.adopt:
            call = await self.mode.adopt(by_id[channel_id]) if channel_id in by_id else None
            if call is not None:
                self._register(call)
                self.metrics.adopted.inc(direction=str(call.direction))
                log.info(
                    kv("call.adopted", call=call.id, channel=channel_id, state=str(call.phase))
                )
        for call_id, leg_id in plan.answered:
            call = self.calls.get(call_id)
            if call is not None:
                self.apply(call, call.leg_answered(leg_id, self.clock()))
        for call_id, channel_id in plan.lost:
            call = self.calls.get(call_id)
            if call is not None:
                self.metrics.orphans.inc(kind="call")
                self.apply(call, C.lost(call, channel_id))
        for channel_id in plan.orphan_channels:
            if channel_id.startswith(reconcile.ID_PREFIX):
                self.metrics.orphans.inc(kind="channel")
                self.spawn(self.hangup_channel(channel_id, C.TEMPORARY))
            else:
                # A caller in the app no call knows: it may have entered while this ran,
                # its StasisStart still on the way. The sweep ends it only if it stays so.
                self._suspects.setdefault(channel_id, self.clock())
        for bridge_id in plan.orphan_bridges:
            self.metrics.orphans.inc(kind="bridge")
            self.spawn(self.quiet(self.ari.destroy_bridge, bridge_id))
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
