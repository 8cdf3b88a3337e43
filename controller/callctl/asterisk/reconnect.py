"""The one reconnect loop (ARI events and the AMI login both run on it), built on tenacity.

    backoff_delay(n)     seconds before retry n: doubling, capped, with jitter
    retry_policy(...)    tenacity retrying on the errors a caller names as retryable
    keep_connected(...)  connect (retrying), serve until the connection is lost, repeat

A connection that drops within `stable_after` seconds counts as a failure for the backoff,
so an Asterisk that accepts and at once closes is not hammered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

log = logging.getLogger("callctl.asterisk.reconnect")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry `attempt` (1-based): the ceiling doubles per attempt up
    to `cap`, and the wait is drawn from [ceiling/2, ceiling] so that many controllers
    restarting together do not retry in step."""
    exponent = min(max(attempt, 1) - 1, 32)  # base * 2**32 is past any sensible cap
    ceiling = min(cap, base * 2.0**exponent)
    return ceiling / 2 + rand() * ceiling / 2


def retry_policy(
    retryable: Callable[[BaseException], bool],
    *,
    what: str = "Asterisk",
    base: float = 0.5,
    cap: float = 30.0,
    max_attempts: int | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> tenacity.AsyncRetrying:
    """Retry while `retryable(error)`; anything else (bad credentials, a refused request) is
    raised at once: retrying a wrong password only fills the logs."""

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff_delay(state.attempt_number, base=base, cap=cap, rand=rand)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        # Our error messages never hold credentials, so they are safe to log.
        log.warning(
            "%s unavailable (attempt %d): %s; retrying in %.1f s",
            what,
            state.attempt_number,
            getattr(exc, "message", exc),
            delay,
        )

    return tenacity.AsyncRetrying(
        wait=wait,
        stop=tenacity.stop_after_attempt(max_attempts) if max_attempts else tenacity.stop_never,
        retry=tenacity.retry_if_exception(retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )


async def connect_with_retry(
    connect: Callable[[], Awaitable[T]], policy: tenacity.AsyncRetrying
) -> T:
    async for attempt in policy:
        with attempt:
            return await connect()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


async def keep_connected(
    connect: Callable[[], Awaitable[T]],
    serve: Callable[[T, int], Awaitable[None]],
    *,
    policy: Callable[[], tenacity.AsyncRetrying],
    lost: Callable[[BaseException], bool],
    what: str,
    stable_after: float = 10.0,
    base: float = 0.5,
    cap: float = 30.0,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> None:
    """Forever: `connect()` (retried by `policy()`), then `serve(connection, n)` (n = 0 the
    first time, then the reconnect count) until it raises an error `lost(error)` accepts;
    then again. Returns when `serve` returns (closed on purpose); other errors propagate.
    `serve` owns the connection: it closes it on the way out."""
    connects = 0
    quick_drops = 0
    while True:
        connection = await connect_with_retry(connect, policy())
        started = clock()
        try:
            await serve(connection, connects)
            return
        except Exception as err:
            if not lost(err):
                raise
            log.warning("%s connection lost: %s", what, getattr(err, "message", err))
        connects += 1
        quick_drops = quick_drops + 1 if clock() - started < stable_after else 0
        if quick_drops:
            await sleep(backoff_delay(quick_drops, base=base, cap=cap, rand=rand))
