"""A daemon stalled under a burst of calls (issue 19): every call is still decided.

`callctl run` is stopped (SIGSTOP) while SIPp calls arrive, so StasisStart events pile up in
its WebSocket; once more calls wait in Stasis than Asterisk's HTTP session limit allows ARI
connections, it is resumed (SIGCONT) and must work through the backlog without a call left in
Stasis until the caller gives up. The session limit is lowered to SESSION_LIMIT for the test so
a small call rate exceeds it, and the stall ends on a count (BACKLOG calls waiting), not on a
clock: the backlog is three times the limit however slow the machine is.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from callctl.sandbox.manager import Sandbox, free_port
from support.daemon_proc import DaemonProcess, metric_sum, paused
from support.daemon_rig import ROUTING, Rig, make_rig, wait_clean
from support.sipp_trace import CallRecord, read_calls

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

SESSION_LIMIT = 8  # Asterisk's default is 100
BACKLOG = 24  # calls waiting in Stasis when the daemon resumes: 3 x SESSION_LIMIT
CALLS = 40  # BACKLOG during the stall, the rest after it
RATE = 10  # calls/s
HOLD_MS = 2000  # an answered call lasts this long
# s: each call is decided within this of its INVITE or of the resume; the daemon rescues a
# call left without a decision after 10 s, the rest is slack for a loaded machine
BOUND = 20.0
GIVE_UP_MS = 30_000  # the caller's patience: SIPp cancels a call with no final answer
NUMBER = "5551230000"


def http_conf(port: int, session_limit: int) -> str:
    return (
        "; callctl stall test: ARI on loopback with a small HTTP session limit\n"
        "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
        f"bindport = {port}\nsessionlimit = {session_limit}\n"
    )


@pytest.fixture
def rig(sandbox_factory, tmp_path: Path) -> Rig:  # type: ignore[no-untyped-def]
    port = free_port()
    return make_rig(
        sandbox_factory,
        tmp_path,
        http_port=port,
        configs={"http.conf": http_conf(port, SESSION_LIMIT)},
    )


def waiting_in_stasis(sb: Sandbox) -> int:
    """Callers' channels in Stasis (`core show channels concise`: the control socket, so the
    count costs no HTTP session)."""
    lines = sb.rx("core show channels concise").splitlines()
    return sum(1 for ln in lines if ln.split("!")[5:6] == ["Stasis"])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def late(calls: list[CallRecord], resumed: float) -> list[CallRecord]:
    """Calls not decided within BOUND of their INVITE or of the resume, whichever is later."""
    return [c for c in calls if c.decided is None or c.decided - max(c.invited, resumed) > BOUND]


def diagnosis(rig: Rig, daemon: DaemonProcess) -> str:
    log = daemon.log.read_text(errors="replace")
    full = rig.sb.log_dir / "full"
    refused = full.read_text(errors="replace").count("HTTP session count exceeded")
    return (
        f"Asterisk refused {refused} HTTP sessions; the daemon logged "
        f"{log.count('event=ari.effect_failed')} ari.effect_failed"
    )


def test_stall_with_a_backlog_beyond_the_session_limit_decides_every_call(rig: Rig) -> None:
    routing = rig.workdir / "routing.yaml"
    routing.write_text(ROUTING.replace("RING", "10"))
    daemon = DaemonProcess(rig.sb.name, rig.workdir / "daemon", routing)
    carriers = [
        rig.carrier(name, "uas_ring_answer.xml", pause_ms=0, calls=CALLS, timeout_s=300)
        for name in ("carrier-a", "carrier-b")
    ]
    caller = rig.caller(
        NUMBER,
        pause_ms=HOLD_MS,
        calls=CALLS,
        rate=RATE,
        timeout_s=int(CALLS / RATE + GIVE_UP_MS / 1000 + 60),
        extra=["-trace_msg", "-recv_timeout", str(GIVE_UP_MS), "-l", str(CALLS)],
    )
    with daemon:
        for carrier in carriers:
            carrier.start()
        try:
            daemon.wait_ready()
            with paused(daemon):
                caller.start()
                wait_for(lambda: waiting_in_stasis(rig.sb) >= BACKLOG, 60, "the backlog")
            resumed = time.time()
            result = caller.wait()
            calls = read_calls(caller.workdir)
            assert len(calls) == CALLS, result.log

            slow = late(calls, resumed)
            codes = Counter(c.code for c in calls)
            assert not slow, (
                f"{len(slow)} of {CALLS} calls not decided within {BOUND} s of the resume "
                f"({sum(1 for c in slow if c.gave_up)} left until the caller gave up); "
                f"final codes {dict(codes)}; {diagnosis(rig, daemon)}"
            )

            # Nothing left behind, and the daemon's books match what the callers saw.
            asyncio.run(wait_clean(rig.sb))
            wait_for(lambda: not daemon.calls(), 10, "callctl calls to be empty")
            samples = daemon.metrics()
            answered = sum(1 for c in calls if c.answered)
            assert metric_sum(samples, "callctl_active_calls") == 0
            assert (
                metric_sum(samples, "callctl_calls_total", direction="outbound", outcome="answered")
                == answered
            ), (answered, samples)
            assert metric_sum(samples, "callctl_calls_total", direction="outbound") == CALLS
        finally:
            caller.stop()
            for carrier in carriers:
                carrier.stop()
