"""The daemon rig (support.daemon_rig) once per dispatch mode, for tests of the daemon against
a real sandbox: each runs with both ways of connecting a call, the fast path (the dialplan's
Dial() after the controller's decision) and the ARI bridge. A test module binds the fixture
by name (`rig = dispatch_rig.rig`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from callctl.daemon.server import Daemon
from callctl.sandbox.manager import Sandbox

from support.daemon_rig import Rig, daemon_config, make_rig, running, sipp_wait, wait_until
from support.sipp import Sipp

NUMBER = "5551230000"  # what the rig's caller dials: +15551230000, out on carrier-a


@pytest.fixture(params=["dialplan", "bridge"])
def rig(
    request: pytest.FixtureRequest, sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> Rig:
    # sync: the sandbox manager runs its own loop
    return make_rig(sandbox_factory, tmp_path, dispatch=request.param)


@asynccontextmanager
async def rig_daemon(rig: Rig, **options: Any) -> AsyncIterator[Daemon]:
    """The daemon on the rig's sandbox, in the rig's dispatch mode (`options`: daemon_config's,
    e.g. ring_timeout)."""
    async with running(daemon_config(rig.sb, dispatch=rig.dispatch, **options)) as daemon:
        yield daemon


@asynccontextmanager
async def answered_call(
    rig: Rig, daemon: Daemon, *, stays_s: int = 30, carrier_hangs_up_ms: int | None = None
) -> AsyncIterator[tuple[Sipp, Sipp]]:
    """The rig's caller calls NUMBER and carrier-a answers at once; yields (caller, carrier)
    once the daemon holds the answered call. The caller hangs up after `stays_s`; with
    `carrier_hangs_up_ms` the carrier hangs up that long after its answer instead. The
    carrier is stopped on exit; the caller is the test's to wait for or stop."""
    if carrier_hangs_up_ms is None:
        scenario, pause_ms = "uas_ring_answer.xml", 0
    else:
        scenario, pause_ms = "uas_answer_hangup.xml", carrier_hangs_up_ms
    with rig.carrier("carrier-a", scenario, pause_ms=pause_ms) as carrier:
        timeout_s = max(60, stays_s + 30)
        caller = rig.caller(NUMBER, pause_ms=stays_s * 1000, timeout_s=timeout_s).start()
        await wait_until(
            lambda: any(c.answered_leg for c in daemon.router.calls.values()),
            10,
            "the call to be answered",
        )
        yield caller, carrier


async def second_leg_answers(caller: Sipp, first: Sipp, second: Sipp) -> None:
    """`caller` calls; the leg to `first` fails or is cancelled and `second` answers: both
    scenarios run to their end and the caller's call succeeds."""
    with first, second:
        result = await sipp_wait(caller.start())
        assert (await sipp_wait(first)).returncode == 0, first.workdir
        assert (await sipp_wait(second)).returncode == 0, second.workdir
    assert result.successful == 1, result.log
