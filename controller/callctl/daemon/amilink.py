"""A kept-alive AMI login for the daemon: connect, Ping, reconnect with backoff.

The daemon needs AMI to know it can reach it and, on the fast path, for the DialEnd and
Hangup events that follow each handed-off call (it logs in with `Events: call` and filters
out everything else then; the debug watcher opens its own one-shot sessions). The session
never re-sends an action after a lost connection; the only actions sent here are Filter (at
login) and Ping, which is safe to lose. A Ping without a reply within the timeout counts as
a lost connection. Reconnecting is callctl.asterisk.reconnect's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import tenacity

from callctl.asterisk.ami import AmiConfig, AmiSession
from callctl.asterisk.reconnect import keep_connected, retry_policy
from callctl.daemon.logfmt import kv
from callctl.errors import AsteriskUnavailable

log = logging.getLogger("callctl.daemon.ami")


def _retryable(err: BaseException) -> bool:
    return isinstance(err, AsteriskUnavailable)


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
        stable_after: float = 10.0,
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
        self._base, self._cap, self._stable_after = backoff_base, backoff_cap, stable_after
        self._lost = asyncio.Event()
        self.session: AmiSession | None = None  # the current login, for tests and status

    def _policy(self) -> tenacity.AsyncRetrying:
        return retry_policy(
            _retryable, what="AMI", base=self._base, cap=self._cap, sleep=self._sleep
        )

    async def _connect(self) -> AmiSession:
        self._lost.clear()
        session = AmiSession(
            self.config, events=self.events, on_event=self.on_event, on_lost=self._lost.set
        )
        await session.connect()
        try:
            for criteria, pattern in self.filters:
                await session.add_filter(criteria, pattern)
        except BaseException:
            await session.close()
            raise
        return session

    async def _serve(self, session: AmiSession, reconnects: int) -> None:
        """Ping until the session fails; raises AsteriskUnavailable when it does."""
        self.session = session
        self.connected = True
        if reconnects:
            self._on_reconnect()
        log.info(kv("ami.connected", target=self.config.target))
        try:
            while not self._lost.is_set():
                await session.ping()
                # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that comes
                # as its inner await finishes, and this loop then never ends (a daemon stop
                # hung on it in CI). Likewise AmiSession's requests.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.ping_interval):
                        await self._lost.wait()
            raise AsteriskUnavailable(f"AMI connection to {self.config.target} closed")
        finally:
            self.connected = False
            await session.close()

    async def run(self) -> None:
        """Forever: connect (with backoff), ping until the session fails, repeat."""
        await keep_connected(
            lambda: self._connect(),  # looked up per connect (tests delay it)
            self._serve,
            policy=self._policy,
            lost=_retryable,
            what="AMI",
            stable_after=self._stable_after,
            base=self._base,
            cap=self._cap,
            sleep=self._sleep,
        )
