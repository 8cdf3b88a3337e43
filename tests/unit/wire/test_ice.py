"""callctl.wire.ice and `callctl ice analyze --pcap` on real captures of the rig's cells
(tests/data/pcap/README.md says how each was made and what the cell's known cause is)."""

from __future__ import annotations

import io
import json
import struct

from callctl.cli import Console, main
from callctl.paths import REPO_ROOT
from callctl.wire import stun
from callctl.wire.ice import WireIce
from callctl.wire.packet import Datagram
from callctl.wire.signatures import diagnose

DATA = REPO_ROOT / "tests" / "data" / "pcap"


def analyze(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["ice", "analyze", "--json", *argv], Console(stdout=out, stderr=err))
    return rc, json.loads(out.getvalue()) if rc == 0 else {}, err.getvalue()


def test_stock_media_goes_to_a_pair_that_is_not_nominated():
    """Patch 0010's cell: the client nominates its lower-priority candidate; stock Asterisk
    sends RTP to the first valid pair's address instead."""
    rc, doc, err = analyze("--pcap", str(DATA / "rig-stock-nominated-host.pcap"))
    assert rc == 0, err
    wire = doc["wire"]
    (s,) = wire["sessions"]
    roles = sorted(a["role"] for a in s["agents"])
    assert roles == ["controlled", "controlling"]
    assert wire["signatures"] == {"wire-media-not-to-nominated": 1}
    (sig,) = s["signatures"]
    assert "0010-res_rtp_asterisk-nominated-pair.patch" in sig["patch"]
    client = next(a for a in s["agents"] if a["role"] == "controlling")
    assert client["use_candidate"] >= 1 and client["nomination"] == {}
    assert len(s["nominated"]) >= 1
    assert any(e["event"] == "first-rtp" for e in s["timeline"])


def test_stock_conversations_cell_nominates_with_0xc001_only():
    rc, doc, err = analyze("--pcap", str(DATA / "rig-stock-conversations.pcap"))
    assert rc == 0, err
    (s,) = doc["wire"]["sessions"]
    client = next(a for a in s["agents"] if a["role"] == "controlling")
    assert client["nomination"] == {"0xC001": 1} and client["use_candidate"] == 0
    assert set(doc["wire"]["signatures"]) == {
        "wire-nomination-not-understood",
        "wire-check-not-triggered-back",
    }


def test_a_file_that_is_not_a_capture_is_a_usage_error(tmp_path):
    p = tmp_path / "x.pcap"
    p.write_bytes(b"not a capture at all")
    rc, _, err = analyze("--pcap", str(p))
    assert rc == 2 and "not a readable capture" in err


def _req(tid: int, username: str, *attrs: bytes) -> bytes:
    body = struct.pack("!HH", stun.USERNAME, len(username)) + username.encode()
    body += b"\0" * (-len(username) % 4) + b"".join(attrs)
    return struct.pack("!HHI", 0x0001, len(body), stun.MAGIC) + tid.to_bytes(12, "big") + body


def _resp(tid: int, error: int | None = None) -> bytes:
    body = b""
    mtype = 0x0101
    if error is not None:
        mtype = 0x0111
        body = struct.pack("!HH", stun.ERROR_CODE, 4) + bytes([0, 0, error // 100, error % 100])
    return struct.pack("!HHI", mtype, len(body), stun.MAGIC) + tid.to_bytes(12, "big") + body


def test_role_conflict_487():
    w = WireIce()
    ctl = struct.pack("!HHQ", stun.ICE_CONTROLLING, 8, 5)
    w.datagram(Datagram(1.0, "10.0.0.1:1", "10.0.0.2:2", _req(1, "B:A", ctl)))
    w.datagram(Datagram(1.1, "10.0.0.2:2", "10.0.0.1:1", _resp(1, 487)))
    (s,) = diagnose(w)
    assert [f["signature"] for f in s.found] == ["wire-role-conflict"]
    assert any("tie-breaker 0x0000000000000005" in f["evidence"] for f in s.found)


def test_active_side_without_client_hello():
    w = WireIce()
    w.datagram(Datagram(1.0, "10.0.0.1:1", "10.0.0.2:2", _req(1, "B:A")))
    w.datagram(Datagram(1.1, "10.0.0.2:2", "10.0.0.1:1", _resp(1)))
    w.datagram(Datagram(1.2, "10.0.0.2:2", "10.0.0.1:1", _req(2, "A:B")))
    w.datagram(Datagram(1.3, "10.0.0.1:1", "10.0.0.2:2", _resp(2)))
    (s,) = diagnose(w, {"10.0.0.1:1": "active"})
    assert [f["signature"] for f in s.found] == ["wire-dtls-no-client-hello"]
    (s,) = diagnose(w, {"10.0.0.1:1": "passive"})
    assert s.found == []


def test_patched_cells_are_clean_on_the_wire():
    for name in ("rig-patched-nominated-host.pcap", "rig-patched-conversations.pcap"):
        rc, doc, err = analyze("--pcap", str(DATA / name))
        assert rc == 0, err
        assert doc["wire"]["signatures"] == {} and len(doc["wire"]["sessions"]) == 1, name


def test_wire_and_log_on_one_timeline_aligned_by_a_transaction():
    """The patched renomination cell: pjnath's level-5 dump of its own check carries the
    transaction ID the capture shows (word-swapped), which puts the log on the wire's clock."""
    rc, doc, err = analyze(
        "--pcap",
        str(DATA / "rig-patched-conversations.pcap"),
        str(DATA / "rig-patched-conversations.full.log"),
    )
    assert rc == 0, err
    (s,) = doc["wire"]["sessions"]
    assert s["log_session"].startswith("icess0x") and s["clock"].startswith("aligned")
    assert s["matched_by"] == "ufrags"  # the USERNAME of pjnath's dumped checks
    events = [(e["source"], e["event"]) for e in s["timeline"]]
    # pjnath's check goes out, is answered, then the peer nominates: in that order
    first_check = events.index(("wire", "check"))
    assert events.index(("log", "start")) < first_check
    assert events.index(("log", "nominated")) > events.index(("wire", "answer"))
    nominated_at = next(e["t"] for e in s["timeline"] if e["event"] == "nominated")
    nominating = [e for e in s["timeline"] if "NOMINATION(0xC001)" in e["detail"]]
    assert nominating and abs(nominated_at - nominating[0]["t"]) < 0.05
    assert doc["log"]["outcomes"] == {"success": 1}


def test_stock_conversations_log_and_wire_agree():
    rc, doc, err = analyze(
        "--pcap",
        str(DATA / "rig-stock-conversations.pcap"),
        str(DATA / "rig-stock-conversations.full.log"),
    )
    assert rc == 0, err
    assert "rtcp-mux-one-component" in doc["log"]["signatures"]
    (s,) = doc["wire"]["sessions"]
    # stock Asterisk sent no check (no dump to take ufrags from): matched by address
    assert s["log_session"].startswith("icess0x") and s["matched_by"] == "address"
    assert "wire-nomination-not-understood" in doc["wire"]["signatures"]


def test_memory_is_bounded_on_a_hostile_capture():
    """Every request with new ufrags and never answered: sessions, flows and open
    transactions stop at their bounds, the rest is counted."""
    import tracemalloc

    from callctl.wire import ice

    w = WireIce()
    tracemalloc.start()
    for i in range(3 * ice.MAX_SESSIONS):
        for j in range(20):
            w.datagram(
                Datagram(
                    float(i),
                    f"10.0.{i % 250}.{j}:{i}",
                    "10.9.9.9:9",
                    _req(i * 100 + j, f"R{i}:L{i}"),
                )
            )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(w.sessions_by_key) == ice.MAX_SESSIONS
    assert w.dropped > 0
    assert peak < 64 * 1024 * 1024, peak


def test_pjsua_capture_and_log_on_one_timeline():
    """Two real pjsua: aggressive nomination (USE-CANDIDATE on every check), no signature;
    the caller's log joins the capture, aligned by a STUN transaction."""
    logs = REPO_ROOT / "tests" / "data" / "logs"
    rc, doc, err = analyze(
        "--pcap", str(DATA / "pjsua-ice-success.pcap"), str(logs / "pjsua-ice-success-caller.log")
    )
    assert rc == 0, err
    (s,) = doc["wire"]["sessions"]
    assert doc["wire"]["signatures"] == {}
    ctl = next(a for a in s["agents"] if a["role"] == "controlling")
    assert ctl["use_candidate"] == ctl["checks_sent"] >= 2 and ctl["nomination"] == {}
    assert s["log_session"] == "icetp00" and s["clock"].startswith("aligned")
    assert s["matched_by"] == "ufrags"
    assert len(s["nominated"]) == 2  # both components


def test_turn_allocation_is_listed():
    relayed = struct.pack("!BBH", 0, 1, 49152 ^ (stun.MAGIC >> 16)) + bytes(
        a ^ b for a, b in zip(bytes([203, 0, 113, 5]), struct.pack("!I", stun.MAGIC), strict=True)
    )
    ok = struct.pack("!HH", stun.XOR_RELAYED_ADDRESS, 8) + relayed
    ok += struct.pack("!HHI", stun.LIFETIME, 4, 600)
    w = WireIce()
    alloc = struct.pack("!HHI", 0x0003, 0, stun.MAGIC) + bytes(12)
    w.datagram(Datagram(1.0, "10.0.0.1:1", "10.0.0.9:3478", alloc))
    w.datagram(
        Datagram(
            1.1,
            "10.0.0.9:3478",
            "10.0.0.1:1",
            struct.pack("!HHI", 0x0103, len(ok), stun.MAGIC) + bytes(12) + ok,
        )
    )
    assert [t["message"] for t in w.turn] == ["Allocate request", "Allocate success"]
    assert "relayed 203.0.113.5:49152, lifetime 600 s" in w.turn[1]["detail"]


def test_the_log_keys_for_a_capture_are_read_only_when_asked():
    """Transaction IDs and ufrags from pjnath's dumps: the anchor scan (wire_keys=True) sees
    what line-by-line reading sees; without wire_keys the scan skips those lines."""
    from callctl.icelog.analyzer import IceLogAnalyzer

    log = DATA / "rig-patched-conversations.full.log"
    fast = IceLogAnalyzer(wire_keys=True)
    fast.feed(log.read_bytes())
    fast.finish()
    slow = IceLogAnalyzer()
    for line in log.read_text().splitlines():
        slow.feed_line(line)
    slow.finish()
    (a,), (b,) = fast.finished, slow.finished
    assert a.transactions == b.transactions and len(a.transactions) >= 2
    assert a.ufrags == b.ufrags == {"aLbT", "673fbdaa5f49409b0261d3045640406e"}
    plain = IceLogAnalyzer()
    plain.feed(log.read_bytes())
    plain.finish()
    assert plain.finished[0].transactions == {} and plain.report() == fast.report()
