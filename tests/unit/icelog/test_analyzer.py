"""The ICE log analyzer on real pjnath output (tests/data/logs, see its README)."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from callctl.cli import Console, main
from callctl.icelog.analyzer import IceLogAnalyzer
from callctl.icelog.cli import analyze_file
from callctl.icelog.framing import Framer
from callctl.paths import REPO_ROOT

DATA = REPO_ROOT / "tests" / "data" / "logs"
PJNATH = REPO_ROOT / "tests" / "data" / "pjnath"


def analyze_lines(lines) -> dict:
    a = IceLogAnalyzer()
    for line in lines:
        a.feed_line(line)
    a.finish()
    return a.report()


def by_name(report: dict) -> dict:
    return {s["session"]: s for s in report["sessions"]}


def sigs(session: dict) -> list[str]:
    return [s["signature"] for s in session["signatures"]]


def test_success_log():
    rep = analyze_file(DATA / "pjnath-stock-success.log").report()
    s = by_name(rep)
    assert rep["sessions_total"] == 2 and rep["outcomes"] == {"success": 2}
    ctl = s["controlled"]
    assert ctl["role"] == "Controlled" and ctl["components"] == 1
    assert ctl["candidates"]["local"] == {"1": {"host": 1}}
    assert ctl["candidates"]["remote"] == {"1": ["127.0.0.2:5000", "127.0.0.3:5002"]}
    assert ctl["duration"] == pytest.approx(0.02)
    assert ctl["nominations"][0]["pair"] == "[1] 127.0.0.1:4000-->127.0.0.2:5000"
    assert s["controlling"]["candidates"]["local"] == {"1": {"host": 2}}
    assert any(
        e["event"] == "check-state" and "Waiting -> In Progress" in e["detail"]
        for e in ctl["state_changes"]
    )
    assert rep["signatures"] == {}


def test_failed_late_peer_log_names_the_triggered_check_patch():
    rep = analyze_file(DATA / "pjnath-stock-late-peer.log").report()
    s = by_name(rep)
    ctl = s["controlled"]
    assert ctl["outcome"] == "failed" and "EICEFAILED" in ctl["status"]
    assert ctl["duration"] == pytest.approx(7.92)
    assert sigs(ctl) == ["late-peer-no-triggered-check"]
    assert "triggered-check patch" in ctl["signatures"][0]["patch"]
    assert "1.1 s after the first failure" in ctl["signatures"][0]["evidence"]
    assert sigs(s["controlling"]) == [] and s["controlling"]["outcome"] == "success"
    assert [c["state"] for c in ctl["checklist"]] == ["Failed", "Failed"]


def test_nomination_only_peer_names_the_renomination_patch():
    s = by_name(analyze_file(DATA / "pjnath-stock-nomination-only.log").report())
    ctl = s["controlled"]
    assert ctl["outcome"] == "failed" and "EICENOMTIMEOUT" in ctl["status"]
    assert sigs(ctl) == ["no-nomination-renomination"]
    assert "0xC001 (1 seen)" in ctl["signatures"][0]["evidence"]


@pytest.mark.parametrize("name", ["success.log", "failed-late-peer.log"])
def test_harness_samples_from_the_patch_series_issue(name):
    path = PJNATH / name
    if not path.is_file():
        pytest.skip(f"{path} not provided yet (patch-series issue)")
    rep = analyze_file(path).report()
    assert rep["sessions_total"] >= 1
    outcomes = {s["outcome"] for s in rep["sessions"]}
    if name == "success.log":
        assert outcomes == {"success"} and rep["signatures"] == {}
    else:
        assert "failed" in outcomes and "late-peer-no-triggered-check" in rep["signatures"]


def asterisk_frame(pj_line: str, date: str, lwp: int = 4242) -> str:
    """Re-frame one raw pjlib line the way Asterisk writes it to a file channel.

    res_pjproject.c log_forwarder: ast_log(level, "pjproject", 0, "<?>", "\\t%s\\n", data)
    with decor PJ_LOG_HAS_SENDER|PJ_LOG_HAS_INDENT (sender right-aligned in 22 columns,
    one space, indent dots); logger.c format_log_default LOGTYPE_FILE:
    "[%s] %s[%d]%s %s: %s".
    """
    _time, sender, rest = pj_line[:12], pj_line[13:35].strip(), pj_line[37:]
    return f"[{date}] DEBUG[{lwp}] pjproject: \t{sender:>22} {rest}"


def test_asterisk_framing_gives_the_same_analysis():
    raw = (DATA / "pjnath-stock-late-peer.log").read_text().splitlines()
    framed = []
    for line in raw:
        if len(line) > 37 and line[:2].isdigit() and line[2] == ":":
            framed.append(asterisk_frame(line, "2026-11-23 01:00:" + line[6:12]))
        else:
            framed.append(line)
    a = by_name(analyze_lines(raw))
    b = by_name(analyze_lines(framed))
    assert sigs(b["controlled"]) == sigs(a["controlled"]) == ["late-peer-no-triggered-check"]
    assert b["controlled"]["duration"] == pytest.approx(a["controlled"]["duration"])
    assert b["controlled"]["checklist"] == a["controlled"]["checklist"]


def test_framer_reads_both_asterisk_date_formats():
    f = Framer()
    a = f.frame(
        "[Nov 23 00:10:21] DEBUG[123][C-0000000a] pjproject: \t   icess0x55d1 "
        "..Starting ICE check.."
    )
    assert (a.kind, a.sender, a.text, a.callid) == (
        "pj",
        "icess0x55d1",
        "Starting ICE check..",
        "C-0000000a",
    )
    b = f.frame("[2026-11-23 00:10:21.250] DEBUG[123] res_rtp_asterisk.c: (0x1) ICE start")
    assert b.kind == "ast" and b.sender == "res_rtp_asterisk.c"
    c = f.frame("[2026-11-23 00:10:22.000] DEBUG[123] res_rtp_asterisk.c: x")
    assert c.ts is not None and b.ts is not None and c.ts - b.ts == pytest.approx(0.75)
    assert f.frame("--- end of STUN message ---").kind == "cont"


REAL_CHECKLIST = [
    "00:00:00.000             controlled  ICE session created, comp_cnt=2, role is "
    "Controlled agent",
    "00:00:00.000             controlled  Checklist created:",
    "00:00:00.000             controlled   0: [2] 127.0.0.1:4001-->127.0.0.2:5001 "
    "(not nominated, state=Frozen)",
    "00:00:00.000             controlled  Starting ICE check..",
]


def test_component_two_only_session():
    s = by_name(analyze_lines(REAL_CHECKLIST))["controlled"]
    assert sigs(s) == ["component-2-only"]
    assert "chan_motif component-2 patch" in s["signatures"][0]["patch"]


def test_asterisk_skipping_the_checklist_is_reported():
    rep = analyze_lines(
        [
            "[2026-11-23 00:10:21.000] WARNING[9] res_rtp_asterisk.c: (0x7f00) ICE no RTP "
            "candidates; skipping checklist",
        ]
    )
    assert rep["signatures"] == {"component-2-only": 1}
    assert rep["findings"][0]["line"] == 1


def test_media_to_valid_but_not_nominated_pair():
    lines = [
        "[2026-11-23 00:10:21.000] DEBUG[1] pjproject: \t            icess0xa1 ICE session "
        "created, comp_cnt=1, role is Controlled agent",
        "[2026-11-23 00:10:21.010] DEBUG[1] pjproject: \t            icess0xa1 .Check 0: [1] "
        "10.0.0.1:4000-->10.0.0.2:5000 (not nominated): connectivity check SUCCESS",
        "[2026-11-23 00:10:21.020] DEBUG[1] pjproject: \t            icess0xa1 .Check 1: [1] "
        "10.0.0.1:4000-->10.0.0.3:5002 (nominated): connectivity check SUCCESS",
        "[2026-11-23 00:10:21.030] DEBUG[1] pjproject: \t            icess0xa1 ICE process "
        "complete, status=Success",
        "[2026-11-23 00:10:21.040] VERBOSE[1] res_rtp_asterisk.c: 0x55 -- Strict RTP learning "
        "after remote address set to: 10.0.0.2:5000",
    ]
    s = by_name(analyze_lines(lines))["icess0xa1"]
    assert sigs(s) == ["media-not-to-nominated"]
    assert "10.0.0.2:5000" in s["signatures"][0]["evidence"]
    lines[-1] = lines[-1].replace("10.0.0.2:5000", "10.0.0.3:5002")
    assert sigs(by_name(analyze_lines(lines))["icess0xa1"]) == []


def test_memory_stays_flat_on_a_long_log(tmp_path):
    unit = (DATA / "pjnath-stock-late-peer.log").read_bytes()
    big = tmp_path / "big.log"
    with big.open("wb") as f:
        for _ in range(300):
            f.write(unit)
    tracemalloc.start()
    a = analyze_file(big)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rep = a.report()
    assert rep["sessions_total"] == 600
    assert rep["signatures"] == {"late-peer-no-triggered-check": 300}
    assert peak < 12 * 1024 * 1024, peak  # 3.4 MB of log; summaries are capped


def test_cli_text_and_json():
    out, err = io.StringIO(), io.StringIO()
    rc = main(
        ["ice", "analyze", str(DATA / "pjnath-stock-late-peer.log")],
        Console(stdout=out, stderr=err),
    )
    text = out.getvalue()
    assert rc == 0, err.getvalue()
    assert "FAILURE late-peer-no-triggered-check" in text and "fix:" in text
    assert "2 ICE session(s)" in text
    out = io.StringIO()
    rc = main(
        ["ice", "analyze", "--json", str(DATA / "pjnath-stock-success.log")],
        Console(stdout=out, stderr=err),
    )
    doc = json.loads(out.getvalue())
    assert rc == 0 and doc["kind"] == "ice.analysis" and doc["outcomes"] == {"success": 2}


def test_cli_missing_file(tmp_path):
    err = io.StringIO()
    rc = main(
        ["ice", "analyze", str(tmp_path / "nope.log")], Console(stdout=io.StringIO(), stderr=err)
    )
    assert rc == 2 and "cannot read" in err.getvalue()


def test_real_asterisk_debug_log_framing():
    """A real file from `callctl debug on` on the sandbox: SIP traffic, no ICE session."""
    path = DATA / "asterisk-debug-sip-options.log"
    f = Framer()
    pj = [f.frame(line) for line in path.read_text().splitlines() if "pjproject:" in line]
    assert pj and all(x.kind == "pj" for x in pj)
    assert {x.sender for x in pj} >= {"sip_endpoint.c"}
    assert all(x.level in ("TRACE", "DEBUG") and x.ts is not None for x in pj)
    rep = analyze_file(path).report()
    assert rep["sessions_total"] == 0 and rep["lines"] == 1472
    assert rep["ice_lines"] == 0 and rep["findings"] == []


def test_real_asterisk_log_of_a_jingle_call():
    """Real Asterisk + real pjnath: a stock chan_motif echo call through the Jingle rig."""
    rep = analyze_file(DATA / "asterisk-jingle-stock-echo.log").report()
    assert rep["sessions_total"] == 1 and rep["outcomes"] == {"success": 1}
    (s,) = rep["sessions"]
    assert s["session"].startswith("icess0x") and s["role"] == "Unknown"
    assert s["components"] == 2
    assert s["candidates"]["local"] == {"1": {"host": 1}, "2": {"host": 1}}
    assert sorted(s["candidates"]["remote"]) == ["1", "2"]
    assert [c["state"] for c in s["checklist"]] == ["Succeeded", "Succeeded"]
    assert all(c["nominated"] for c in s["checklist"])
    assert len(s["nominations"]) == 2 and s["duration"] is not None and s["duration"] < 1
    # stock chan_motif never sets the ICE role (issue 8): named even when ICE got lucky
    assert [x["signature"] for x in s["signatures"]] == ["ice-role-unknown"]
    assert "0050-chan_motif-ice-role.patch" in s["signatures"][0]["patch"]


def test_real_debug_log_plain_profile_role_unknown():
    """`debug on` file of a stock call: pjnath role Unknown, pairs valid, EICEFAILED."""
    rep = analyze_file(DATA / "asterisk-jingle-stock-plain.debug.log").report()
    (s,) = rep["sessions"]
    assert s["role"] == "Unknown" and s["outcome"] == "failed" and "EICEFAILED" in s["status"]
    assert [c["state"] for c in s["checklist"]] == ["Succeeded", "Succeeded"]
    assert sigs(s) == ["ice-role-unknown"]  # not mistaken for a renomination peer


def test_real_debug_log_firefox_profile_component_2_only():
    rep = analyze_file(DATA / "asterisk-jingle-stock-firefox.debug.log").report()
    # the client placed the call: stock chan_motif also mislabels its content (only Gajim
    # checks that, so it is named but is not what broke this call)
    assert rep["signatures"] == {"component-2-only": 1, "jingle-content-creator": 1}
    (s,) = rep["sessions"]
    assert sigs(s) == ["component-2-only"] and s["checklist"] == []
    assert "0060-chan_motif-rtcp-mux-candidates.patch" in s["signatures"][0]["patch"]


def test_real_debug_log_conversations_profile_rtcp_mux():
    rep = analyze_file(DATA / "asterisk-jingle-stock-conversations.debug.log").report()
    assert rep["signatures"] == {"rtcp-mux-one-component": 1, "jingle-content-creator": 1}
    (s,) = rep["sessions"]
    assert s["outcome"] == "incomplete" and s["checklist"] == []


def test_real_debug_log_patched_build_is_clean():
    rep = analyze_file(DATA / "asterisk-jingle-patched-plain.debug.log").report()
    assert rep["signatures"] == {} and rep["outcomes"] == {"success": 1}
    (s,) = rep["sessions"]
    assert s["role"] == "Controlled" and len(s["nominations"]) == 2


def _comparable(rep: dict) -> dict:
    return {
        k: rep[k]
        for k in ("sessions_total", "outcomes", "signatures", "findings", "sessions", "lines")
    }


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.log")))
def test_anchor_scan_matches_line_by_line(name, tmp_path):
    """feed() only parses lines holding an anchor; it must see everything feed_line() sees."""
    path = DATA / name
    text = path.read_text(errors="replace")
    variants = {"as-is": text}
    if not text.startswith("["):  # also the Asterisk framing of the same pjlib lines
        variants["asterisk"] = (
            "\n".join(
                asterisk_frame(line, "2026-11-23 01:00:" + line[6:12])
                if len(line) > 37 and line[:2].isdigit() and line[2] == ":"
                else line
                for line in text.splitlines()
            )
            + "\n"
        )
    for label, body in variants.items():
        f = tmp_path / f"{label}.log"
        f.write_text(body)
        fast = analyze_file(f).report()
        slow = analyze_lines(body.splitlines())
        assert _comparable(fast) == _comparable(slow), (name, label)


def test_analyze_reads_stdin(monkeypatch):
    data = (DATA / "pjnath-stock-late-peer.log").read_bytes()

    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr("sys.stdin", Stdin)
    out = io.StringIO()
    rc = main(["ice", "analyze", "-"], Console(stdout=out, stderr=io.StringIO()))
    assert rc == 0 and "late-peer-no-triggered-check x1" in out.getvalue()


def test_real_debug_log_gajim_content_creator():
    """The matrix's stock Gajim cell: a signalling failure, read from res_xmpp's debug XML."""
    rep = analyze_file(DATA / "asterisk-jingle-stock-gajim.debug.log").report()
    assert rep["signatures"]["jingle-content-creator"] == 1
    (finding,) = [f for f in rep["findings"] if f["signature"] == "jingle-content-creator"]
    assert "transport-info" in finding["evidence"]
    assert "content 'audio' creator='responder'" in finding["evidence"]
    assert "0030-chan_motif-content-creator.patch" in finding["patch"]
    assert finding["stamp"] == "2026-11-23 02:46:37.249" and finding["line"] == 75
    assert rep["jingle_rejections"] == 1  # Gajim's bad-request (the terminate follows it)
