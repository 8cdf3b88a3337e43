"""The stall test's and the chaos soak's pure parts: per-call outcomes from a SIPp message
trace, and the daemon's Prometheus text."""

from __future__ import annotations

from datetime import datetime

from support.daemon_proc import metric_sum, parse_metrics
from support.sipp_trace import parse

RULE = "-" * 47


def block(clock: str | None, direction: str, first: str, call: str, cseq: str) -> str:
    """One message as SIPp's -trace_msg writes it (a bare rule, no clock, for a repeat)."""
    head = f"{RULE} 2026-12-07 {clock}" if clock else RULE
    what = (
        "UDP message sent (400 bytes):"
        if direction == "out"
        else "UDP message received [300] bytes :"
    )
    return f"{head}\n{what}\n{first}\nVia: x\nCall-ID: {call}\nCSeq: {cseq}\n\n"


def invite(clock: str, call: str) -> str:
    """The caller's INVITE that starts `call`."""
    return block(clock, "out", "INVITE sip:5551230000@127.0.0.1 SIP/2.0", call, "1 INVITE")


def request(clock: str, method: str, call: str, cseq: str) -> str:
    """Another request the caller sends in `call` (BYE, CANCEL)."""
    return block(clock, "out", f"{method} sip:x SIP/2.0", call, cseq)


def reply(clock: str | None, status: str, call: str, cseq: str = "1 INVITE") -> str:
    """A response the caller receives in `call`."""
    return block(clock, "in", f"SIP/2.0 {status}", call, cseq)


def stamp(clock: str) -> float:
    return datetime.strptime(f"2026-12-07 {clock}", "%Y-%m-%d %H:%M:%S.%f").timestamp()


TRACE = "".join(
    [
        # answered: 100, 180, then 200
        invite("01:00:00.000000", "a"),
        reply("01:00:00.001000", "100 Trying", "a"),
        reply("01:00:00.002000", "180 Ringing", "a"),
        reply("01:00:00.250000", "200 OK", "a"),
        request("01:00:02.250000", "BYE", "a", "2 BYE"),
        reply("01:00:02.251000", "200 OK", "a", "2 BYE"),
        # refused at once; SIPp repeats the 503 under a bare rule, then ACKs
        invite("01:00:01.000000", "b"),
        reply("01:00:01.004000", "503 Service Unavailable", "b"),
        reply(None, "503 Service Unavailable", "b"),
        # never answered: the caller gives up (CANCEL); the 487 is not a decision
        invite("01:00:01.500000", "c"),
        reply("01:00:01.600000", "100 Trying", "c"),
        request("01:00:21.500000", "CANCEL", "c", "1 CANCEL"),
        reply("01:00:21.501000", "200 OK", "c", "1 CANCEL"),
        reply("01:00:21.502000", "487 Request Terminated", "c"),
        # a message of a call this caller did not start is ignored
        reply("01:00:03.000000", "200 OK", "zz"),
    ]
)


def test_trace_gives_each_call_its_decision_and_when() -> None:
    calls = parse(TRACE.splitlines(keepends=True))
    assert sorted(calls) == ["a", "b", "c"]
    a, b, c = calls["a"], calls["b"], calls["c"]
    assert (a.code, a.answered, a.failed) == (200, True, False)
    assert a.invited == stamp("01:00:00.000000") and a.decided == stamp("01:00:00.250000")
    assert (b.code, b.failed, b.decided) == (503, True, stamp("01:00:01.004000"))
    assert (c.code, c.decided, c.gave_up) == (None, None, stamp("01:00:21.500000"))
    assert (a.reached, c.reached) == (stamp("01:00:00.001000"), stamp("01:00:01.600000"))
    assert a.hung_up == stamp("01:00:02.250000") and b.hung_up is None
    assert a.in_progress_at(stamp("01:00:00.100000")) and a.in_progress_at(stamp("01:00:01.000000"))
    assert not a.in_progress_at(stamp("01:00:02.300000"))  # hung up
    assert not a.in_progress_at(stamp("00:59:59.000000"))  # not started
    assert b.in_progress_at(stamp("01:00:01.002000")) and not b.in_progress_at(
        stamp("01:00:02.000000")
    )
    assert c.in_progress_at(stamp("01:00:20.000000")) and not c.in_progress_at(
        stamp("01:00:21.600000")
    )
    assert not c.answered and not c.failed


METRICS = """\
# HELP callctl_calls_total Finished calls by direction and outcome.
# TYPE callctl_calls_total counter
callctl_calls_total{direction="outbound",outcome="answered"} 23
callctl_calls_total{direction="outbound",outcome="abandoned"} 17
callctl_calls_total{direction="inbound",outcome="answered"} 2
callctl_active_calls 0
callctl_call_setup_seconds_bucket{le="0.5"} 20
"""


def test_metrics_text_sums_by_labels() -> None:
    samples = parse_metrics(METRICS)
    assert metric_sum(samples, "callctl_calls_total", direction="outbound") == 40
    assert metric_sum(samples, "callctl_calls_total", outcome="answered") == 25
    assert metric_sum(samples, "callctl_calls_total", direction="outbound", outcome="x") == 0
    assert metric_sum(samples, "callctl_active_calls") == 0
    assert metric_sum(samples, "callctl_call_setup_seconds_bucket", le="0.5") == 20
