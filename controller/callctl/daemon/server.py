"""The daemon's lifecycle: start every task, serve, drain on the first signal, force on the second.

debug expiry check (first thing) -> HTTP API -> ARI event loop + AMI link + debug watcher
SIGTERM/SIGINT #1: stop taking calls (new ones are refused with cause 34), wait for the
                   active calls to end (at most `drain_timeout`), then hang up the rest
SIGTERM/SIGINT #2: hang up what is left at once and exit
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tenacity

from callctl.asterisk.ami import AmiConfig
from callctl.asterisk.ari import (
    AriAuthError,
    AriClient,
    AriCredentials,
    AriRequestError,
    AriUnavailable,
    EventStream,
)
from callctl.asterisk.reconnect import keep_connected, retry_policy
from callctl.daemon import handoff, http
from callctl.daemon.amilink import AmiLink
from callctl.daemon.calls import TEMPORARY
from callctl.daemon.dialplan import DialplanDispatch
from callctl.daemon.logfmt import kv
from callctl.daemon.metrics import Metrics
from callctl.daemon.stasis import EVENTS, Router
from callctl.debug.service import DebugExpiryWatcher, credentials_from
from callctl.routing import RoutingConfig
from callctl.turn.rotator import TurnRotator
from callctl.turn.settings import TurnSettings
from callctl.xmppgw import link as xmppgw_link
from callctl.xmppgw.component import Component, ComponentTarget

log = logging.getLogger("callctl.daemon")
TASK_STOP_TIMEOUT = 5.0  # s for a cancelled task to end at shutdown


@dataclass
class DaemonConfig:
    ari: AriCredentials
    ami: AmiConfig
    routing: RoutingConfig
    listen_host: str = "127.0.0.1"
    listen_port: int = 8095
    standins: dict[str, str] = field(default_factory=dict)
    drain_timeout: float = 30.0
    debug_watch: bool = True
    debug_state_dir: Path | None = None
    reconnect_base: float = 0.5
    reconnect_cap: float = 10.0
    stable_after: float = 10.0  # a WebSocket that drops sooner counts for the backoff
    # "dialplan": decide in Stasis, then Dial() in the dialplan connects (the fast path);
    # "bridge": place the legs and bridge them over ARI (every step in the controller).
    dispatch: str = "dialplan"
    api_token_file: Path | None = None  # default: http.token_path(port)
    # Number JIDs: serve the routing config's gateway domain as an XMPP component there.
    xmpp_component: ComponentTarget | None = None
    # Asterisk's TURN credential (rtp.conf include), renewed before it expires (docs/turn.md).
    turn: TurnSettings | None = None


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        http.check_loopback(config.listen_host)
        if config.dispatch not in handoff.DISPATCH_MODES:
            raise ValueError(f"dispatch must be one of {', '.join(handoff.DISPATCH_MODES)}")
        self.config = config
        self.metrics = Metrics()
        # The lean pool on plain http (ARI on loopback); aiohttp for https.
        self.ari = AriClient(config.ari, pooled=config.ari.base.startswith("http:"))
        fast = config.dispatch == "dialplan"
        self.router = Router(
            self.ari,
            config.routing,
            self.metrics,
            standins=config.standins,
            dispatch=config.dispatch,
            app=config.ari.app,
        )
        # The fast path's own home: it follows its calls through AMI (DialEnd, Hangup).
        self.dialplan = self.router.mode if isinstance(self.router.mode, DialplanDispatch) else None
        self.xmpp: Component | None = None
        if config.xmpp_component is not None and config.routing.gateway is not None:
            self.xmpp = xmppgw_link.component_for(
                config.routing.gateway,
                config.xmpp_component,
                backoff_base=config.reconnect_base,
                backoff_cap=config.reconnect_cap,
            )
            self.router.gateway = self.xmpp.gateway
        self.ami = AmiLink(
            config.ami,
            on_reconnect=self._ami_reconnected,
            backoff_base=config.reconnect_base,
            backoff_cap=config.reconnect_cap,
            stable_after=config.stable_after,
            # The fast path follows its calls through AMI's DialEnd and Hangup events.
            events=handoff.AMI_EVENTS if fast else "off",
            filters=handoff.AMI_FILTERS if fast else (),
            on_event=self._ami_event if fast else None,
        )
        # Asterisk's TURN credential: renewed by its own task; shown in /health, not a check.
        self.turn = TurnRotator(config.turn, config.ami) if config.turn is not None else None
        self.ari_connected = False
        self.app_registered = False
        self.port = config.listen_port
        self._signals = 0
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._serving: http.Serving | None = None
        self.token_file: Path | None = None  # the API token, written once the port is bound
        self.stream: EventStream | None = None  # the current events connection

    # -- health ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        checks = {
            "ari": self.ari_connected,
            "app_registered": self.app_registered,
            "ami": self.ami.connected,
        }
        if self.xmpp is not None:
            checks["xmpp"] = self.xmpp.connected
        ready = all(checks.values()) and not self._stop.is_set()
        doc = {
            "ready": ready,
            "checks": checks,
            "draining": self._stop.is_set(),
            "active_calls": len(self.router.calls),
        }
        if self.turn is not None:
            doc["turn"] = self.turn.status()
        return doc

    def render_metrics(self) -> str:
        return self.metrics.render(
            {"ari": self.ari_connected and self.app_registered, "ami": self.ami.connected}
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info(
                kv(
                    "daemon.draining",
                    active_calls=len(self.router.calls),
                    timeout_s=self.config.drain_timeout,
                )
            )
            self.router.accepting = False
            self._stop.set()
        else:
            log.warning(kv("daemon.forced", active_calls=len(self.router.calls)))
            self._force.set()

    async def start(self) -> None:
        """Everything up to serving; `run()` = start + wait for a signal + shutdown."""
        if self.config.debug_watch:
            watcher = DebugExpiryWatcher(
                credentials_from(self.config.ami), state_dir=self.config.debug_state_dir
            )
            # A daemon started after an expiry turns debug off before anything else.
            try:
                async with asyncio.timeout(15.0):
                    await watcher.check_once()
            except Exception as err:  # the watcher loop retries; never block start-up
                log.warning(kv("debug.check_failed", error=str(err)))
            self._tasks.append(asyncio.create_task(watcher.run(), name="debug-watcher"))
        token = http.new_token()
        app = http.make_app(
            health=self.health,
            metrics=self.render_metrics,
            calls=self.router.snapshot,
            hangup=self.router.hangup_call,
            token=token,
            refresh=self.dialplan.refresh if self.dialplan is not None else None,
        )
        # Bounded: a cap on connections (descriptors stay for ARI and AMI), a lifetime each.
        self._serving = await http.serve(app, self.config.listen_host, self.config.listen_port)
        self.port = self._serving.port  # the bound port, when 0 was asked for
        self.token_file = self.config.api_token_file or http.token_path(self.port)
        http.write_token(self.token_file, token)
        log.info(
            kv(
                "daemon.listening",
                address=f"{self.config.listen_host}:{self.port}",
                app=self.config.ari.app,
                ari=self.config.ari.base,
                ami=self.config.ami.target,
            )
        )
        self._tasks.append(asyncio.create_task(self.ami.run(), name="ami"))
        self._tasks.append(asyncio.create_task(self.router.watch(), name="rescue-sweep"))
        if self.xmpp is not None:
            self._tasks.append(asyncio.create_task(self.xmpp.run(), name="xmpp-component"))
        self._tasks.append(asyncio.create_task(self._events(), name="ari-events"))
        if self.turn is not None:  # logs and retries its failures, never raises
            self._tasks.append(asyncio.create_task(self.turn.run(), name="turn-rotation"))

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            failed = asyncio.create_task(self._first_failure())
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({failed, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if failed.done() and not failed.cancelled() and failed.exception() is not None:
                raise failed.exception()  # type: ignore[misc]
            failed.cancel()
            await self.drain()
            return 0
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _first_failure(self) -> None:
        """Returns (with the task's exception) when a long-running task stops by itself."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def drain(self) -> None:
        self.router.accepting = False
        self._stop.set()
        if self.router.calls:
            ended = asyncio.create_task(self.router.ended.wait())
            forced = asyncio.create_task(self._force.wait())
            self.router.ended.clear()
            if not self.router.calls:
                self.router.ended.set()
            await asyncio.wait(
                {ended, forced},
                timeout=self.config.drain_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            ended.cancel()
            forced.cancel()
        if self.router.calls:
            log.warning(kv("daemon.hangup_remaining", calls=len(self.router.calls)))
            self.router.hangup_all(TEMPORARY)
        await self.router.settle(1.0 if self._force.is_set() else 5.0)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded: a task that does not end on cancel must not keep the daemon from stopping.
        done, stuck = (
            await asyncio.wait(self._tasks, timeout=TASK_STOP_TIMEOUT)
            if self._tasks
            else (set(), set())
        )
        for task in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        for task in stuck:
            log.error(kv("daemon.task_did_not_stop", task=task.get_name()))
        self._tasks.clear()
        if self._serving is not None:
            await self._serving.close()
            self._serving = None
        if self.token_file is not None:
            http.remove_token(self.token_file)
        await self.ari.close()
        log.info(kv("daemon.stopped"))

    # -- AMI events (fast path) --------------------------------------------------------------

    def _ami_event(self, event: Any) -> None:
        news = handoff.parse_ami_event(event)
        if news is not None and self.dialplan is not None:
            self.dialplan.report(news)

    def _ami_reconnected(self) -> None:
        self.metrics.reconnects.inc(interface="ami")
        if self.config.dispatch == "dialplan" and self.ari_connected:
            # Events sent while AMI was down are lost: ask Asterisk which calls are left.
            self.router.reconcile_soon(self.config.ari.app)

    # -- ARI events --------------------------------------------------------------------------

    async def _filter_events(self) -> None:
        try:
            await self.ari.set_event_filter(EVENTS)
        except AriRequestError as err:  # an older Asterisk: everything still works, slower
            log.warning(kv("ari.event_filter_refused", error=err.message))

    def _policy(self) -> tenacity.AsyncRetrying:
        return retry_policy(
            _ari_retryable,
            what="ARI",
            base=self.config.reconnect_base,
            cap=self.config.reconnect_cap,
        )

    async def _serve_events(self, stream: EventStream, reconnects: int) -> None:
        """Reconcile, then handle events until the connection drops (AriUnavailable)."""
        self.stream = stream
        self.ari_connected = True
        if reconnects:
            self.metrics.reconnects.inc(interface="ari")
        try:
            await self._filter_events()
            self.app_registered = await self.ari.is_registered()
            plan = await self.router.reconcile(self.config.ari.app)
            log.info(
                kv(
                    "ari.connected",
                    app=self.config.ari.app,
                    connects=reconnects + 1,
                    registered=self.app_registered,
                    calls=len(self.router.calls),
                    cleaned=len(plan.orphan_channels) + len(plan.orphan_bridges),
                )
            )
            async for event in stream:
                try:
                    self.router.handle(event)
                except Exception:  # one odd event must not take every call down with it
                    log.exception(kv("ari.event_error", type=event.type))
        finally:
            self.ari_connected = False
            self.app_registered = False
            if not stream.closed:
                await stream.close()

    async def _events(self) -> None:
        """Connect, reconcile, handle events; on any drop mark unhealthy and do it again."""
        await keep_connected(
            lambda: self.ari.connect_events(),  # looked up per connect (tests wrap it)
            self._serve_events,
            policy=self._policy,
            lost=_ari_retryable,
            what="ARI events",
            stable_after=self.config.stable_after,
            base=self.config.reconnect_base,
            cap=self.config.reconnect_cap,
        )


def _ari_retryable(err: BaseException) -> bool:
    # Bad credentials are not retried: a wrong password only fills the logs.
    return isinstance(err, AriUnavailable) and not isinstance(err, AriAuthError)
