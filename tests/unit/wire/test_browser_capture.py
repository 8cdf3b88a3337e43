"""What `callctl ice analyze --pcap` needs for a real browser's call
(tests/functional/test_webrtc_pcap.py is the real capture): each agent's signalled DTLS role
in the report, and a capture without STUN next to a log that explains it."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

from callctl.cli import Console, main
from callctl.paths import REPO_ROOT
from callctl.wire import stun
from callctl.wire.ice import WireIce, session_report
from callctl.wire.packet import Datagram
from callctl.wire.signatures import diagnose

STOCK_CHROMIUM_OUT = REPO_ROOT / "tests" / "data" / "logs" / "webrtc-stock-chromium-out.debug.log"


def analyze(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["ice", "analyze", "--json", *argv], Console(stdout=out, stderr=err))
    return rc, json.loads(out.getvalue()) if rc == 0 else {}, err.getvalue()


def empty_pcap(tmp_path: Path) -> Path:
    p = tmp_path / "empty.pcap"  # a pcap global header (Ethernet), no frame
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    return p


def _check(tid: int, username: str) -> bytes:
    body = struct.pack("!HH", stun.USERNAME, len(username)) + username.encode()
    body += b"\0" * (-len(username) % 4)
    return struct.pack("!HHI", 0x0001, len(body), stun.MAGIC) + tid.to_bytes(12, "big") + body


def test_each_agent_reports_the_dtls_role_it_signalled():
    w = WireIce()
    w.datagram(Datagram(1.0, "10.0.0.1:1", "10.0.0.2:2", _check(1, "B:A")))
    (s,) = diagnose(w, {"10.0.0.1:1": "active", "10.0.0.2:2": "actpass"})
    setups = {a["ufrag"]: a["setup"] for a in session_report(s)["agents"]}
    assert setups == {"A": "active", "B": "actpass"}
    (s,) = diagnose(w)  # no log: nobody is known to have signalled anything
    assert {a["setup"] for a in session_report(s)["agents"]} == {None}


def test_a_capture_without_stun_next_to_a_log_that_explains_it(tmp_path):
    """Stock chan_motif ends a browser's call in signalling: no packet reaches the wire, and
    the log names why (the matrix's stock chromium-webrtc/out cell)."""
    pcap = empty_pcap(tmp_path)
    rc, doc, err = analyze("--pcap", str(pcap), str(STOCK_CHROMIUM_OUT))
    assert rc == 0, err
    assert (doc["wire"]["stun"], doc["wire"]["dtls"], doc["wire"]["sessions"]) == (0, 0, [])
    assert "webrtc-fingerprint-as-candidate" in doc["log"]["signatures"]


def test_a_capture_without_stun_and_no_log_is_still_a_usage_error(tmp_path):
    rc, _, err = analyze("--pcap", str(empty_pcap(tmp_path)))
    assert rc == 2 and "no STUN at all" in err
