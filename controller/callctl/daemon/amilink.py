"""A kept-alive AMI login for the daemon: connect, Ping, reconnect with backoff.

The daemon needs AMI to know it can reach it and, on the fast path, for the DialEnd and
Hangup events that follow each handed-off call (it logs in with `Events: call` and filters
out everything else then; the debug watcher opens its own one-shot sessions). It reuses
callctl.ami's session, which never re-sends an action after a lost connection; the only
actions sent here are Filter (at login) and Ping, which is safe to lose. A Ping without a
reply within the timeout counts as a lost connection (panoramisk's own ping never checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import tenacity
from panoramisk.actions import Action

from callctl.ami import AmiConfig, AmiError, AmiSession
from callctl.ari import backoff, backoff_delay
from callctl.daemon.logfmt import kv
from callctl.errors import AsteriskUnavailable

log = logging.getLogger("callctl.daemon.ami")


class _Session(AmiSession):
    def __init__(
        self,
        config: AmiConfig,
        on_lost: Callable[[], None],
        *,
        events: str = "off",
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(config, events=events, on_event=on_event)
        self._on_lost = on_lost

    def connection_lost(self, exc: Any, pending: list[Any] | None = None) -> None:
        super().connection_lost(exc, pending)
        self._on_lost()

    async def ping(self) -> None:
        reply = await self._send(Action({"Action": "Ping"}), "Ping")
        if not reply.success:
            raise AmiError(f"AMI at {self.config.target} answered Ping with an error")


class AmiLink:
    """`connected` is True while a logged-in session answers pings."""

    def __init__(
        self,
        config: AmiConfig,
        *,
        ping_interval: float = 5.0,
        on_reconnect: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        events: str = "off",
        filters: tuple[tuple[str, str], ...] = (),  # (MatchCriteria, Filter) pairs
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.events, self.filters, self.on_event = events, filters, on_event
        self.connected = False
        self.ping_interval = ping_interval
        self._on_reconnect = on_reconnect
        self._sleep = sleep
        self._base, self._cap = backoff_base, backoff_cap
        self._lost = asyncio.Event()
        self.session: AmiSession | None = None  # the current login, for tests and status

    def _policy(self) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            wait=backoff(self._base, self._cap),
            stop=tenacity.stop_never,
            retry=tenacity.retry_if_exception_type(AsteriskUnavailable),
            before_sleep=lambda s: log.warning(
                kv(
                    "ami.retry",
                    attempt=s.attempt_number,
                    error=getattr(s.outcome.exception() if s.outcome else None, "message", ""),
                )
            ),
            sleep=self._sleep,
            reraise=True,
        )

    async def _connect(self) -> _Session:
        async for attempt in self._policy():
            with attempt:
                session = _Session(
                    self.config, self._lost.set, events=self.events, on_event=self.on_event
                )
                await session.connect()
                try:
                    for criteria, pattern in self.filters:
                        await session.add_filter(criteria, pattern)
                except BaseException:
                    await session.close()
                    raise
                return session
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(self) -> None:
        """Forever: connect (with backoff), ping until the session fails, repeat."""
        connects = 0
        while True:
            self._lost.clear()
            session = self.session = await self._connect()
            self.connected = True
            if connects:
                self._on_reconnect()
            connects += 1
            log.info(kv("ami.connected", target=self.config.target))
            try:
                while not self._lost.is_set():
                    await session.ping()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), self.ping_interval)
            except AsteriskUnavailable as err:
                log.warning(kv("ami.lost", target=self.config.target, error=err.message))
            finally:
                self.connected = False
                await session.close()
            if self._lost.is_set():
                log.warning(kv("ami.lost", target=self.config.target))
            await self._sleep(backoff_delay(1, base=self._base, cap=self._cap))
