"""`callctl ice analyze --pcap` on a real browser's call (issue 17 item 4: the DTLS cell).

One call per build: headless Chromium (StanzaJS, tests/support/webrtc) calls the SIPp phone
through the routing daemon, exactly the real-browser matrix's `chromium-webrtc/out` cell
(support.webrtc.cells), while tcpdump captures the rig's veth - the only path between
Asterisk's media sockets and the browser's. The capture and the call's `callctl debug` log go
through the CLI as a user runs it (`callctl ice analyze --json --pcap CAPTURE LOG`).

- patched: the wire shows the DTLS handshake (a ClientHello from the side that signalled
  setup='active', a ServerHello back, no alert), the wire's ICE session merged with the
  log's pjnath session by ufrags, the browser nominating (USE-CANDIDATE or NOMINATION), and
  the first RTP (SRTP) on each direction's 5-tuple after the handshake; no wire signature.
- stock (the negative twin): no DTLS handshake from Asterisk on the wire, and the analyzer
  names why from the log (the `webrtc-*` signatures of icelog/webrtc.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import builds
from support.builds import FlavourBuild
from support.jingle.fixtures import AsteriskFactory
from support.jingle.matrix import CellSpec, matrix, routed_asterisk
from support.jingle.netns import RigNet
from support.webrtc import cells
from support.webrtc.capture import tcpdump
from support.webrtc.fixtures import BrowserFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

flavour_build = builds.flavour_build

SPEC = CellSpec("chromium-webrtc", "out", 0.0)
# What stops the stock call (test_webrtc_matrix.py's STOCK_CAUSES for this direction).
STOCK_CAUSE = "webrtc-fingerprint-as-candidate"


def callctl(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script of this venv, as a user runs it."""
    exe = Path(sys.executable).parent / "callctl"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=120, check=False
    )


def dtls_events(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in session["timeline"] if e["source"] == "wire" and e["event"] == "dtls"]


def first_event(session: dict[str, Any], event: str, detail: str) -> float:
    times = [e["t"] for e in session["timeline"] if e["event"] == event and e["detail"] == detail]
    assert times, (event, detail, session["timeline"])
    return min(times)


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_browser_call_dtls_handshake_on_the_wire(
    flavour_build: FlavourBuild,
    jingle_asterisk: AsteriskFactory,
    jingle_net: RigNet,
    webrtc_browser: BrowserFactory,
    tmp_path: Path,
) -> None:
    stock = flavour_build.stock
    routed = await routed_asterisk(jingle_asterisk, flavour_build.build, expect_frack=stock)
    browser = await webrtc_browser("chromium", resource="w-pcap")
    pcap, log = tmp_path / "chromium.pcap", tmp_path / "debug.log"
    async with matrix(flavour_build.flavour, routed, {SPEC.profile: browser}, tmp_path) as m:
        with tcpdump(pcap, jingle_net.host_link):
            result = await cells.run(m, SPEC, browser)
        shutil.copy(m.debug_log, log)  # the window `callctl debug` logged, this call only
    run = callctl("ice", "analyze", "--json", "--pcap", str(pcap), str(log))
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    if stock:
        assert not result.passed, result.why()
        no_handshake(doc, jingle_net.host_addr)
    else:
        assert result.passed, result.why()
        handshake(doc, jingle_net.host_addr)


def no_handshake(doc: dict[str, Any], asterisk: str) -> None:
    """The stock call: the wire shows no DTLS handshake (stock chan_motif ends the call in
    signalling, before any check), and the log says why."""
    wire = doc["wire"]
    from_asterisk = [
        e for s in wire["sessions"] for e in dtls_events(s) if e["detail"].startswith(asterisk)
    ]
    assert from_asterisk == [] and wire["dtls"] == 0, wire
    assert STOCK_CAUSE in doc["log"]["signatures"], doc["log"]["signatures"]


def handshake(doc: dict[str, Any], asterisk: str) -> None:
    """The patched call, as the analyzer reports it from the capture and the log."""
    wire = doc["wire"]
    assert wire["signatures"] == {}, wire["sessions"]
    assert wire["decode_errors"] == 0, wire["decode_error_examples"]
    (s,) = wire["sessions"]
    # one timeline: the log's pjnath session, found by the checks' ufrags (or a transaction)
    assert s.get("log_session", "").startswith("icess"), s
    assert s["matched_by"] in ("ufrags", "transaction"), s["matched_by"]
    assert {e["source"] for e in s["timeline"]} == {"wire", "log"}
    (ours,) = [a for a in s["agents"] if any(x.startswith(asterisk + ":") for x in a["addresses"])]
    (theirs,) = [a for a in s["agents"] if a is not ours]
    # the browser calls, so it is the controlling agent and nominates, as libwebrtc does
    assert theirs["role"] == "controlling", s["agents"]
    assert theirs["use_candidate"] or theirs["nomination"], theirs
    # the DTLS handshake: ClientHello from the side that signalled setup='active'
    (client,) = [a for a in s["agents"] if a["setup"] == "active"]
    server = theirs if client is ours else ours
    assert client["dtls_client_hello"] >= 1 and server["dtls_client_hello"] == 0, s["agents"]
    c, v = client["addresses"][0], server["addresses"][0]
    hello = first_event(s, "dtls", f"{c} -> {v} ClientHello")
    assert first_event(s, "dtls", f"{v} -> {c} ServerHello") >= hello, dtls_events(s)
    alerts = [e for e in dtls_events(s) if ":" in e["detail"].rsplit(" ", 1)[1]]
    assert alerts == [], alerts  # "fatal:handshake_failure" and the like
    # SRTP (its RTP header is clear) on each direction's 5-tuple, only after the handshake
    for src, dst in ((c, v), (v, c)):
        assert first_event(s, "first-rtp", f"{src} -> {dst}") > hello, s["timeline"]
    assert min(ours["rtp_sent"], theirs["rtp_sent"]) >= cells.MIN_PACKETS, s["agents"]
