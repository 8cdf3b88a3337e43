"""One real-browser cell of the interop matrix (issue 12, item 5).

The call is routed exactly like the emulated rows (support.jingle.matrix: the routing daemon,
the hotline for calls the browser places, a DID for calls to it, a SIPp `-rtp_echo` phone on
the trunk); only the Jingle client is a real browser. The verdict is the browser's own:

- RTCPeerConnection.connectionState and the DTLS transport's state both reach `connected`;
- getStats: at least 200 audio packets received and 200 sent in a 5 s window (PCMU at 20 ms
  is 250 a way);
- the phone side: SIPp's own echo count (its screen, as the emulated rows read it) and the
  trunk channel's RTP statistics both show the browser's audio went through Asterisk to the
  phone and back (at least 200 each, and SIPp's echo within 10 % of what Asterisk sent it).

What went wrong is kept: the page's event list (Jingle actions, StanzaJS errors such as
"Failed to set remote answer sdp"), the debug capture of the call and the signatures
`callctl ice analyze` names in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callctl.icelog.cli import analyze_stream

from support.jingle import observe
from support.jingle.matrix import SCREEN_DUMP, SETUP_SLACK, CellSpec, Matrix

from .browser import BrowserClient, BrowserError

WINDOW = 5.0  # seconds of audio counted
MIN_PACKETS = 200  # per direction in WINDOW (250 expected at 20 ms)
ECHO_TOLERANCE = 0.10  # SIPp's echo count vs. what Asterisk sent it
CONNECT_WAIT = 10.0  # after the answer, for ICE + DTLS (a pass needs far less)
POLL = 0.1


@dataclass
class BrowserCellResult:
    spec: CellSpec
    browser: str = ""  # version
    accepted: bool = False
    connection: str = ""  # RTCPeerConnection.connectionState at the end of the wait
    dtls: str = ""  # RTCDtlsTransport.state
    ice: str = ""  # iceConnectionState
    received: int = 0  # audio packets in the WINDOW
    sent: int = 0
    codec: str = ""
    leg_tx: int | None = None  # Asterisk -> phone (trunk channel RTP statistics)
    leg_rx: int | None = None  # phone -> Asterisk
    phone_echoed: int | None = None  # SIPp's own echo counter
    terminate_reason: str = ""
    error: str = ""
    peer: str = ""  # who called the browser (in cells)
    page_errors: list[str] = field(default_factory=list)  # StanzaJS errors, terminations
    marks: dict[str, float] = field(default_factory=dict)  # page times (ms), see rig.js
    analyzer: list[str] = field(default_factory=list)
    patches: list[str] = field(default_factory=list)
    capture: str = ""
    nominations: dict[str, int] = field(default_factory=dict)  # conversations-webrtc capture

    @property
    def passed(self) -> bool:
        phone_ok = (
            self.leg_tx is not None
            and self.leg_rx is not None
            and self.phone_echoed is not None
            and min(self.leg_tx, self.leg_rx, self.phone_echoed) >= MIN_PACKETS
            and abs(self.phone_echoed - self.leg_tx) <= ECHO_TOLERANCE * self.leg_tx
        )
        return (
            not self.error
            and self.connection == "connected"
            and self.dtls == "connected"
            and self.received >= MIN_PACKETS
            and self.sent >= MIN_PACKETS
            and phone_ok
        )

    def why(self) -> str:
        errors = "; ".join(self.page_errors[:4])
        return (
            f"{self.spec.key}: passed={self.passed} accepted={self.accepted} "
            f"connection={self.connection!r} dtls={self.dtls!r} ice={self.ice!r} "
            f"rtp in/out={self.received}/{self.sent} ({self.codec}) leg_tx={self.leg_tx} "
            f"leg_rx={self.leg_rx} sipp_echoed={self.phone_echoed} "
            f"terminate={self.terminate_reason!r} error={self.error!r} page=[{errors}] "
            f"analyzer={self.analyzer}" + (f" capture={self.capture}" if self.capture else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.spec.profile,
            "direction": self.spec.direction,
            "answer": self.spec.answer,
            "ring": self.spec.ring,
            "passed": self.passed,
            "browser": self.browser,
            "connection": self.connection,
            "dtls": self.dtls,
            "ice": self.ice,
            "rtp": {
                "window_s": WINDOW,
                "received_by_browser": self.received,
                "sent_by_browser": self.sent,
                "asterisk_to_phone": self.leg_tx,
                "phone_to_asterisk": self.leg_rx,
                "echoed_by_sipp": self.phone_echoed,
            },
            "codec": self.codec,
            "terminate_reason": self.terminate_reason,
            "error": self.error,
            "page_errors": self.page_errors,
            "analyzer": self.analyzer,
            "analyzer_patches": self.patches,
            "capture": self.capture,
            "nominations": self.nominations,
        }


def page_errors(report: dict[str, Any]) -> list[str]:
    """The page events that explain a failure (StanzaJS errors, terminations, DTLS errors)."""
    keep = ("stanza-error", "stanza-warn", "terminated", "dtls-error", "icecandidateerror")
    return [
        f"{e['what']}: {e.get('detail')}" for e in report.get("events", []) if e["what"] in keep
    ]


async def _wait_connected(browser: BrowserClient, limit: float) -> dict[str, Any]:
    """Poll the page until connection and DTLS are connected, or the call fails or ends."""
    deadline = time.monotonic() + limit
    stats: dict[str, Any] = await browser.rpc("stats")
    while time.monotonic() < deadline:
        if stats["state"] == "ended" or stats["connection"] in ("failed", "closed"):
            break
        if stats["connection"] == "connected" and stats["dtls"] == "connected":
            break
        await asyncio.sleep(POLL)
        stats = await browser.rpc("stats")
    return stats


async def _wait_accepted(browser: BrowserClient, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        report = await browser.rpc("report")
        if "accept" in report["marks"]:
            return True
        if any(e["what"] == "terminated" for e in report["events"]):
            return False
        await asyncio.sleep(POLL)
    return False


def _gateway_error(m: Matrix, spec: CellSpec, starts: list[str], peer: str) -> str:
    """Through the gateway: an out call is routed by its number JID's number (never the
    hotline), an in call reaches the browser from +CALLER@gw-domain/gateway."""
    if spec.direction == "out":
        routed = [s for s in starts if "direction=outbound" in s]
        if len(routed) != 1 or f"number={m.dialled} " not in routed[0] + " ":
            return f"not routed to {m.dialled}: {routed}"
        if "hotline=True" in routed[0]:
            return f"routed to the hotline: {routed[0]}"
        return ""
    domain = m.callee.partition("@")[2]
    if not (peer.startswith("+") and peer.endswith(f"@{domain}/gateway")):
        return f"the call came from {peer!r}, not through the gateway"
    return ""


async def run(m: Matrix, spec: CellSpec, browser: BrowserClient) -> BrowserCellResult:
    """One call between `browser` and the SIPp phone, routed by `m`'s daemon."""
    result = BrowserCellResult(spec, browser=browser.version)
    full = observe.LogTail(Path(m.sandbox.log_dir) / "full")
    debug = observe.LogTail(m.debug_log)
    name = f"{m.flavour}-{spec.profile}-{spec.direction}-{spec.answer}"
    sipp = m._phone(spec, name)  # the matrix's phone for this cell (scenario, ring, echo)
    sipp.start()
    seen = len(m.starts)
    try:
        if spec.direction == "out":
            await asyncio.sleep(0.3)  # SIPp binds its port
            # Through the gateway the browser calls NUMBER@gw-domain, as a user dials.
            await browser.rpc("call", m.callee or m.ast.jid)
            result.accepted = await _wait_accepted(browser, spec.ring + SETUP_SLACK)
        else:
            incoming = await browser.rpc("nextIncoming", int(SETUP_SLACK * 1000))
            result.peer = str(incoming.get("peer", ""))
            await browser.rpc("ring")
            await asyncio.sleep(spec.ring)
            await browser.rpc("accept")
            result.accepted = True
        stats = await _wait_connected(browser, CONNECT_WAIT) if result.accepted else {}
        if stats.get("connection") == "connected" and stats.get("dtls") == "connected":
            start = stats
            await asyncio.sleep(WINDOW)
            stats = await browser.rpc("stats")
            result.received = stats["packetsReceived"] - start["packetsReceived"]
            result.sent = stats["packetsSent"] - start["packetsSent"]
            result.leg_tx, result.leg_rx = await m._leg_counts()
            if sipp.dump_screen():
                await asyncio.sleep(SCREEN_DUMP)
        if stats:
            result.connection, result.dtls, result.ice = (
                stats["connection"],
                stats["dtls"],
                stats["ice"],
            )
            result.codec = stats.get("codec", "")
    except BrowserError as exc:
        result.error = f"{exc} (console: {browser.tail(5)})"
    finally:
        with contextlib.suppress(BrowserError):
            report = await browser.rpc("report")
            result.marks = {k: round(v, 1) for k, v in report["marks"].items()}
            result.page_errors = page_errors(report)
            ended = [e for e in report["events"] if e["what"] == "terminated"]
            result.terminate_reason = str(ended[-1]["detail"]) if ended else ""
        with contextlib.suppress(BrowserError):
            await browser.rpc("hangup")
        held = await m.end_cell(sipp)  # always: it stops the phone
        result.error = result.error or held
    if result.leg_tx is not None:
        result.phone_echoed = sipp.echoed()
    if m.callee and result.passed:  # a call that worked must have worked through the gateway
        result.error = _gateway_error(m, spec, m.starts[seen:], result.peer)
    full.read()  # the cell's slice ends here; the next cell starts after it
    capture = debug.read()
    report_ = analyze_stream(io.BytesIO(capture.encode())).report()
    result.analyzer = sorted(report_["signatures"])
    result.patches = sorted({f["patch"].split(" (")[0] for f in report_["findings"]})
    if not result.passed:
        path = m.workdir / "captures" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(capture)
        result.capture = str(path)
    return result
