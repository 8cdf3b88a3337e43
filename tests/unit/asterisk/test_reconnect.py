"""The one reconnect loop and its backoff, with scripted connections (no network)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import tenacity
from callctl.asterisk.ari import AriAuthError, AriDisconnected, AriNotFound, AriUnavailable
from callctl.asterisk.reconnect import backoff_delay, keep_connected, retry_policy


def _ari_retryable(err: BaseException) -> bool:
    return isinstance(err, AriUnavailable) and not isinstance(err, AriAuthError)


def reconnect_policy(**kw: object) -> tenacity.AsyncRetrying:
    return retry_policy(_ari_retryable, **kw)  # type: ignore[arg-type]


# -- backoff and retry ---------------------------------------------------------------------


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    lows = [backoff_delay(n, base=0.5, cap=8.0, rand=lambda: 0.0) for n in range(1, 9)]
    highs = [backoff_delay(n, base=0.5, cap=8.0, rand=lambda: 1.0) for n in range(1, 9)]
    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert lows == [h / 2 for h in highs]
    assert backoff_delay(10_000, base=0.5, cap=30.0) <= 30.0  # no overflow on long outages


async def test_policy_retries_unavailable_with_growing_waits_then_gives_up() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    calls = 0
    with pytest.raises(AriUnavailable, match="down 4"):
        async for attempt in reconnect_policy(
            max_attempts=4, base=1.0, cap=3.0, sleep=sleep, rand=lambda: 1.0
        ):
            with attempt:
                calls += 1
                raise AriUnavailable(f"down {calls}")
    assert calls == 4
    assert waits == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "error",
    [
        AriAuthError("bad password"),
        AriNotFound("gone", http_status=404, ari_message="Channel not found"),
        ValueError("a bug"),
    ],
)
async def test_policy_does_not_retry_other_errors(error: Exception) -> None:
    calls = 0

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not sleep")

    with pytest.raises(type(error)):
        async for attempt in reconnect_policy(max_attempts=5, sleep=sleep):
            with attempt:
                calls += 1
                raise error
    assert calls == 1


# -- keep_connected -------------------------------------------------------------------------


class Script:
    """connect() hands out the next scripted connection (a name) or raises the next error;
    serve() records it, then raises what the script says for that connection."""

    def __init__(self, connects: list[str | Exception], drops: dict[str, Exception | None]):
        self.connects = connects
        self.drops = drops
        self.log: list[str] = []
        self.sleeps: list[float] = []

    async def connect(self) -> str:
        item = self.connects.pop(0)
        if isinstance(item, Exception):
            self.log.append(f"refused {item}")
            raise item
        return item

    async def serve(self, name: str, reconnects: int) -> None:
        self.log.append(f"serve {name} #{reconnects}")
        drop = self.drops[name]
        if drop is not None:
            raise drop

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def run(script: Script, clock: Callable[[], float], **kw: object) -> object:
    return keep_connected(
        script.connect,
        script.serve,
        policy=lambda: reconnect_policy(
            max_attempts=3, base=1.0, sleep=script.sleep, rand=lambda: 1.0
        ),
        lost=_ari_retryable,
        what="test",
        sleep=script.sleep,
        clock=clock,
        base=1.0,
        cap=8.0,
        rand=lambda: 1.0,
        **kw,
    )


async def test_reconnects_after_a_drop_and_counts_reconnects() -> None:
    script = Script(
        ["a", AriUnavailable("refused"), "b"],
        {"a": AriDisconnected("dropped"), "b": None},
    )
    clock = iter([0.0, 100.0, 200.0, 300.0])
    await run(script, lambda: next(clock), stable_after=10.0)  # type: ignore[misc]
    assert script.log == ["serve a #0", "refused refused", "serve b #1"]
    assert script.sleeps == [1.0]  # only the refused connect waited: "a" had lived long


async def test_quick_drops_back_off_and_bad_credentials_stop_the_loop() -> None:
    script = Script(
        ["a", "a", "a", AriAuthError("password changed")],
        {"a": AriDisconnected("dropped at once")},
    )
    with pytest.raises(AriAuthError):
        await run(script, lambda: 0.0)  # type: ignore[misc]  # every connection lives 0 s
    assert script.sleeps == [1.0, 2.0, 4.0]


async def test_other_errors_from_serve_propagate() -> None:
    script = Script(["a"], {"a": ValueError("a bug")})
    with pytest.raises(ValueError):
        await run(script, lambda: 0.0)  # type: ignore[misc]
