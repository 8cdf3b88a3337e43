"""The daemon against a real sandbox Asterisk, with SIPp as caller, carriers and phones."""

from __future__ import annotations

import pytest
from support import dispatch_rig
from support.daemon_rig import Rig, http_get, sipp_wait, wait_clean
from support.dispatch_rig import rig_daemon, second_leg_answers

pytestmark = pytest.mark.asterisk

rig = dispatch_rig.rig  # every test runs in both dispatch modes


async def test_outbound_call_answered_and_bridged(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        with rig.carrier("carrier-a", "uas_ring_answer.xml", pause_ms=300) as carrier:
            caller = await sipp_wait(rig.caller("5551230000", pause_ms=1000).start())
            result = await sipp_wait(carrier)
        assert caller.successful == 1, caller.log
        assert result.returncode == 0, result.log
        await wait_clean(rig.sb)
        assert daemon.metrics.calls.get(direction="outbound", outcome="answered") == 1
        status, text = await http_get(daemon, "/metrics")
        assert status == 200
        assert 'callctl_calls_total{direction="outbound",outcome="answered"} 1' in text


def screen_count(result_log: str, message: str) -> int:
    """How many `message` lines (e.g. "180 <-") SIPp's screen counted (0 if absent)."""
    for line in result_log.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == message and parts[1].startswith("<-"):
            return int(parts[2]) if parts[2].isdigit() else int(parts[3])
    return 0


async def test_outbound_rings_first_and_shows_caller_id(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        carrier = rig.carrier(
            "carrier-a", "uas_ring_answer.xml", pause_ms=1500, extra=["-trace_msg"]
        )
        with carrier:
            caller = await sipp_wait(rig.caller("1-555-123-0000", pause_ms=300).start())
            result = await sipp_wait(carrier)
        assert caller.successful == 1 and result.returncode == 0, caller.log + result.log
        assert screen_count(caller.log, "180") == 1  # ringing passed back to the caller
        messages = "".join(p.read_text() for p in (rig.workdir / "carrier-a").glob("*messages*"))
        assert "INVITE sip:+15551230000@" in messages
        assert 'From: "+15550104400" <sip:+15550104400@' in messages  # the mapped caller ID
        setup = daemon.metrics.setup_seconds
        assert setup.n == 1 and 1.4 < setup.total < 3.0
        await wait_clean(rig.sb)


async def test_carrier_hangup_ends_the_caller(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        with rig.carrier("carrier-a", "uas_answer_hangup.xml", pause_ms=500) as carrier:
            caller = rig.caller("5551230000", pause_ms=20000).start()
            result = await sipp_wait(carrier)
            assert result.returncode == 0, result.log  # its BYE was answered
            await wait_clean(rig.sb, timeout=5)  # the caller's leg went with it
            caller.stop()
        assert daemon.metrics.calls.get(direction="outbound", outcome="answered") == 1


async def test_busy_is_passed_back_without_failover(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        with rig.carrier("carrier-a", "uas_busy.xml") as carrier:
            caller = await sipp_wait(rig.caller("5551230000").start())
            await sipp_wait(carrier)
        assert caller.successful == 0 and screen_count(caller.log, "486") == 0
        assert "486" in caller.log or "Unexpected" in caller.log
        assert daemon.metrics.calls.get(direction="outbound", outcome="busy") == 1
        assert daemon.metrics.failovers.get(direction="outbound") == 0
        await wait_clean(rig.sb)


async def test_503_fails_over_to_the_second_trunk(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        await second_leg_answers(
            rig.caller("5551230000", pause_ms=500),
            rig.carrier("carrier-a", "uas_503.xml"),
            rig.carrier("carrier-b", "uas_ring_answer.xml", pause_ms=200),
        )
        assert daemon.metrics.failovers.get(direction="outbound") == 1
        assert daemon.metrics.calls.get(direction="outbound", outcome="answered") == 1
        await wait_clean(rig.sb)


async def test_both_trunks_congested_gives_congestion(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        with rig.carrier("carrier-a", "uas_503.xml"), rig.carrier("carrier-b", "uas_503.xml"):
            caller = await sipp_wait(rig.caller("5551230000").start())
        assert caller.successful == 0
        assert daemon.metrics.calls.get(direction="outbound", outcome="congestion") == 1
        await wait_clean(rig.sb)


async def test_no_answer_times_out_with_cause_19(rig: Rig) -> None:
    async with rig_daemon(rig, ring_timeout=2) as daemon:
        with rig.carrier("carrier-a", "uas_ring_cancel.xml") as carrier:
            caller = await sipp_wait(rig.caller("5551230000").start())
            result = await sipp_wait(carrier)
        assert result.returncode == 0, result.log  # the carrier got its CANCEL
        assert caller.successful == 0
        assert daemon.metrics.calls.get(direction="outbound", outcome="no-answer") == 1
        assert daemon.metrics.failovers.get(direction="outbound") == 0
        await wait_clean(rig.sb)


# ph-a rings and never answers (it is cancelled), ph-b answers: DID ...401 rings the two JIDs
# one after the other, ...402 both at once (the routing config of support.daemon_rig).
@pytest.mark.parametrize(
    ("did", "answer_ms"),
    [("15550104401", 200), ("+15550104402", 500)],
    ids=["sequential-rings-the-next-jid", "parallel-first-answer-wins"],
)
async def test_inbound_ring_group_is_answered_by_the_second_phone(
    rig: Rig, did: str, answer_ms: int
) -> None:
    async with rig_daemon(rig) as daemon:
        await second_leg_answers(
            rig.trunk_caller(did, pause_ms=300),
            rig.carrier("ph-a", "uas_ring_cancel.xml"),
            rig.carrier("ph-b", "uas_ring_answer.xml", pause_ms=answer_ms),
        )
        assert daemon.metrics.calls.get(direction="inbound", outcome="answered") == 1
        await wait_clean(rig.sb)


async def test_unknown_did_is_refused(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        caller = await sipp_wait(rig.trunk_caller("15559990000").start())
        assert caller.successful == 0
        assert daemon.metrics.calls.get(direction="inbound", outcome="refused-unknown-did") == 1
        await wait_clean(rig.sb)
