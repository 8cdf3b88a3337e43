"""`callctl ice analyze` on untrusted or unusual logs (issue 16 item 5): no crash on any input,
memory bounded, no work that grows faster than the input."""

from __future__ import annotations

import io
import tracemalloc

from callctl.cli import Console, main
from callctl.icelog.analyzer import MAX_LIVE, IceLogAnalyzer
from callctl.icelog.cli import analyze_stream
from callctl.icelog.scan import ANCHORS, ASTERISK_ANCHORS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HUGE = "9" * 5000  # past Python's int max str digits (4300)


def raw(sender: str, text: str, t: str = "00:00:00.000") -> str:
    """A pjlib line in the default decoration (sender right-aligned in 22 columns)."""
    return f"{t} {sender:>22}  {text}"


def ast(sender: str, text: str, date: str = "2026-11-23 00:10:21.000") -> str:
    """The same line as Asterisk's file channel writes it (res_pjproject.c, logger.c)."""
    return f"[{date}] DEBUG[42] pjproject: \t{sender:>22} {text}"


def run(lines: list[str]) -> dict:
    return analyze_stream(io.BytesIO(("\n".join(lines) + "\n").encode())).report()


def test_huge_digit_fields_do_not_crash():
    """Each int() site of the analyzer with a 5,000-digit field (it used to raise ValueError:
    'Exceeds the limit (4300 digits) for integer string conversion')."""
    created = "ICE session created, comp_cnt=1, role is Controlled agent"
    cases = [
        [raw("icess0x1", f"ICE session created, comp_cnt={HUGE}, role is Controlled agent")],
        [
            raw("icess0x1", created),
            raw(
                "icess0x1",
                f"Candidate {HUGE} added: comp_id=1, type=host, foundation=H1, "
                "addr=127.0.0.1:4000, base=127.0.0.1:4000, prio=0x7effffff",
            ),
        ],
        [
            raw("icess0x1", created),
            raw(
                "icess0x1",
                f".Check 0: [{HUGE}] 1.1.1.1:1-->2.2.2.2:2: state changed from Frozen to Waiting",
            ),
        ],
        [ast("icess0x1", created, date=f"2026-11-23 00:10:21.{HUGE}")],
    ]
    for lines in cases:
        rep = run(lines)
        assert rep["sessions_total"] == 1
        assert not any(
            c["pair"].startswith(f"[{HUGE}") for s in rep["sessions"] for c in s["checklist"]
        )


def test_sessions_never_destroyed_are_evicted_with_a_count():
    n = MAX_LIVE + 3000
    lines = [
        raw(f"icess0x{i:x}", "ICE session created, comp_cnt=2, role is Controlled agent")
        for i in range(n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    tracemalloc.start()
    a = IceLogAnalyzer()
    a.feed(data)
    _, peak_feed = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(a.live) <= MAX_LIVE
    a.finish()
    rep = a.report()
    assert rep["sessions_total"] == n
    assert rep["warnings"]["sessions_evicted"] == n - MAX_LIVE
    assert rep["outcomes"] == {"incomplete": n}
    # the input itself is ~1 MB; live sessions are capped, so state stays far under this
    assert peak_feed - len(data) * 3 < 8 * 1024 * 1024, peak_feed


def test_unusual_session_names_keep_the_anchor_set_fixed():
    """Sessions not named icess... in an Asterisk log used to add one anchor each, and every
    later block was searched once per anchor: quadratic."""
    lines = []
    for i in range(2000):
        name = f"agent{i}"
        lines += [
            ast(name, "ICE session created, comp_cnt=1, role is Controlling agent"),
            ast(
                name,
                "Candidate 0 added: comp_id=1, type=host, foundation=H1, "
                "addr=127.0.0.1:4000, base=127.0.0.1:4000, prio=0x7effffff",
            ),
            ast(name, "ICE process complete, status=Success"),
            ast(name, "Destroying ICE session 0x1"),
        ]
    a = IceLogAnalyzer()
    a.feed(("\n".join(lines) + "\n").encode())
    a.finish()
    assert len(a.scanner.anchors) <= len(set(ANCHORS) | set(ASTERISK_ANCHORS))
    rep = a.report()
    assert rep["outcomes"] == {"success": 2000}
    assert rep["sessions"][0]["candidates"]["local"] == {"1": {"host": 1}}


def test_an_endless_line_is_skipped_in_bounded_memory():
    a = IceLogAnalyzer()
    chunk = b"x" * (1 << 20)
    tracemalloc.start()
    for _ in range(24):  # 24 MiB without a newline
        a.feed(chunk)
    a.feed(
        b"\n"
        + raw("icess0x1", "ICE session created, comp_cnt=1, role is Controlled agent").encode()
        + b"\n"
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    a.finish()
    rep = a.report()
    assert peak < 6 * (1 << 20), peak
    assert rep["warnings"]["lines_too_long"] == 1
    assert rep["sessions_total"] == 1 and rep["lines"] == 2


def test_a_log_without_ice_events_says_so_and_fails():
    err = io.StringIO()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "sip.log"
        p.write_text("[2026-11-23 00:10:21.000] VERBOSE[1] pbx.c: Executing Dial\n")
        rc = main(["ice", "analyze", str(p)], Console(stdout=io.StringIO(), stderr=err))
        assert rc == 2 and "no ICE events" in err.getvalue()
        out = io.StringIO()
        rc = main(["ice", "analyze", "--json", str(p)], Console(stdout=out, stderr=io.StringIO()))
        assert rc == 2


# Fragments of real lines, so the fuzzer reaches deep into the parser, not only the framer.
FRAGMENTS = [
    "00:00:00.000 ",
    "[2026-11-23 00:10:21.000] ",
    "DEBUG[1] ",
    "pjproject: \t",
    "icess0x1 ",
    "ICE session created, comp_cnt=",
    "role is ",
    " agent",
    "Controlled",
    "Check ",
    "0: [1] ",
    "1.1.1.1:1-->2.2.2.2:2",
    ": state changed from ",
    " to ",
    "Succeeded",
    "Failed",
    "Checklist created:",
    "Valid list",
    "Candidate ",
    " added: comp_id=",
    "type=host, ",
    "foundation=H, addr=1.1.1.1:1, base=1.1.1.1:1, prio=0x1",
    "(nominated, state=Succeeded)",
    "connectivity check SUCCESS",
    "ICE process complete, status=",
    "Destroying ICE session",
    "RX 100 bytes STUN message from 2.2.2.2:2:",
    "STUN Binding request",
    "Attr 0xc001",
    "--- end of STUN message ---",
    "<--- XMPP sent to 'x' --->",
    "<jingle sid='s' action=",
    "<content creator='responder' name='a'>",
    "ICE no RTP candidates; skipping checklist",
    "Sent RTP packet to 2.2.2.2:2",
    "ICE negotiation success after ",
    "1s:020",
    "\t",
    " ",
    ".",
    "!",
    "9" * 50,
    "9" * 1500,
    "\udcff",
    "\x00",
    "\r",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join), max_size=30))
def test_fuzz_lines_built_from_real_fragments(lines):
    a = IceLogAnalyzer()
    for line in lines:
        a.feed_line(line)
    a.finish()
    a.report()
    b = IceLogAnalyzer()
    b.feed("\n".join(lines).encode("utf-8", "surrogateescape"))
    b.finish()
    b.report()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_arbitrary_bytes_in_arbitrary_chunks(chunks):
    a = IceLogAnalyzer()
    for c in chunks:
        a.feed(c)
    a.finish()
    rep = a.report()
    assert rep["lines"] == b"".join(chunks).count(b"\n") + (
        not b"".join(chunks).endswith(b"\n") and bool(b"".join(chunks))
    )


def _pjsua(name: str) -> dict:
    from callctl.icelog.cli import analyze_file
    from callctl.paths import REPO_ROOT

    return analyze_file(REPO_ROOT / "tests" / "data" / "logs" / name).report()


def test_pjsua_logs_are_read_whole_with_pjnaths_own_verdict():
    """Real pjsua 2.17 logs: session named after the ICE transport (icetp00), lines indented
    by call depth, ice_strans.c's "ICE negotiation success after 0s:020"."""
    for name, role, secs in (
        ("pjsua-ice-success-caller.log", "Controlling", 0.020),
        ("pjsua-ice-success-callee.log", "Controlled", 0.021),
    ):
        rep = _pjsua(name)
        (s,) = rep["sessions"]
        assert (s["session"], s["role"], s["components"]) == ("icetp00", role, 2)
        assert s["outcome"] == "success" and len({n["pair"] for n in s["nominations"]}) == 2
        assert [c["state"] for c in s["checklist"]] == ["Succeeded", "Succeeded"]
        assert s["negotiation"] == {"result": "success", "seconds": secs}


def test_pjsua_call_stopped_by_the_application_says_so():
    """The call failed in media (488); pjsua stopped ICE: that is said, not a bare
    INCOMPLETE."""
    caller = _pjsua("pjsua-media-failed-caller.log")["sessions"][0]
    callee = _pjsua("pjsua-media-failed-callee.log")["sessions"][0]
    assert caller["outcome"] == callee["outcome"] == "incomplete"
    assert caller["stopped"] == "media stop requested"
    assert callee["stopped"] == "the application destroyed the ICE transport"
    assert callee["checklist"]  # the indented checklist rows were read
