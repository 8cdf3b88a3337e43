"""One real-browser call through the NAT rig: the browser (tests/support/webrtc, in the client
namespace) and a sandbox Asterisk's Echo(), either direction, with what each side says.

The verdict is the browser's own (RTCPeerConnection and its DTLS transport `connected`, audio
counted by getStats both ways until 150 packets each: Echo() sends the browser's audio back, so
packets received prove the path there and back) plus Asterisk's (pjnath's verdicts and
`callctl ice analyze` on the call's slice of the `full` log). The pair each side won is typed
from what was signalled: Asterisk's from the analyzer's nominated pair (as for the emulated
client, `pairs.py`), the browser's from the wire. A capture on the client's own veth (inside
the NAT) holds the nominating Binding request (USE-CANDIDATE) of whichever side controls; its
addresses, typed by the candidates each side signalled, are the browser's pair. Behind the
UDP-blocking firewall the capture is on the root namespace's loopback, between coturn's relay
and Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callctl.icelog.cli import analyze_stream

from support.jingle import observe, originate
from support.jingle.asterisk_conf import AsteriskJingle
from support.webrtc.browser import BrowserClient, BrowserError
from support.webrtc.capture import BindingRequest, binding_requests, tcpdump

from . import pairs
from .cells import RING_VAR, SETUP_SLACK
from .topology import NatNet

CONNECT_WAIT = 10.0  # s after the answer, for ICE and DTLS (a pass needs far less)
AUDIO_PACKETS = 150  # each way once connected: 3 s of 20 ms packets, counted, not timed
AUDIO_WAIT = 30.0  # s, the bound on that count (a pass needs about 3 s)
POLL = 0.1
_CANDIDATE = re.compile(r"^a=candidate:\S+ 1 (udp|tcp) \d+ (\S+) (\d+) typ (\w+)", re.M | re.I)
_PAGE_TROUBLE = ("stanza-error", "stanza-warn", "terminated", "dtls-error", "icecandidateerror")

Stats = dict[str, Any]


@dataclass
class BrowserNatCell:
    browser: str  # "chromium" / "firefox"
    kind: str  # the NAT kind
    direction: str  # "out": the browser calls Asterisk; "in": Asterisk rings the browser
    ring: float
    version: str = ""
    accepted: bool = False
    connection: str = ""
    dtls: str = ""
    received: int = 0  # audio packets since connected, at the browser
    sent: int = 0
    asterisk_ice: list[str] = field(default_factory=list)  # pjnath's verdicts, this call
    evidence: dict[str, str] = field(default_factory=dict)  # the analyzer's, per signature
    signatures: list[str] = field(default_factory=list)  # callctl ice analyze, this call
    browser_pair: str | None = None
    asterisk_pair: str | None = None
    browser_candidates: dict[str, str] = field(default_factory=dict)  # "ip:port" -> type
    asterisk_candidates: dict[str, str] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)
    error: str = ""
    capture: str = ""  # where a failed cell's slice of Asterisk's log was kept

    @property
    def connected(self) -> bool:
        return self.connection == "connected" and self.dtls == "connected"

    @property
    def passed(self) -> bool:
        return (
            not self.error
            and self.connected
            and min(self.received, self.sent) >= AUDIO_PACKETS
            and any("Success" in v for v in self.asterisk_ice)
        )

    def why(self) -> str:
        return (
            f"[{self.browser} {self.kind} {self.direction} ring={self.ring:g}] "
            f"passed={self.passed} accepted={self.accepted} connection={self.connection!r} "
            f"dtls={self.dtls!r} audio in/out={self.received}/{self.sent} "
            f"asterisk_ice={self.asterisk_ice} analyzer={self.evidence or self.signatures} "
            f"pairs browser={self.browser_pair} asterisk={self.asterisk_pair} "
            f"browser_candidates={self.browser_candidates} "
            f"asterisk_candidates={self.asterisk_candidates} error={self.error!r} "
            f"page={self.page_errors[:4]} capture={self.capture}"
        )

    @property
    def key(self) -> str:
        """The cell's row in the results file."""
        return f"{self.kind}/{self.browser}-webrtc/{self.direction}/ring{self.ring:g}"

    def to_dict(self) -> dict[str, Any]:
        """What the results file keeps: every field but the candidate maps, and the verdict."""
        kept = asdict(self)
        del kept["browser_candidates"], kept["asterisk_candidates"]
        return {**kept, "passed": self.passed}


def signalled(sdp: str) -> dict[str, str]:
    """Component-1 candidates of an SDP: "ip:port" -> type (pure)."""
    return {f"{ip}:{port}": typ for _, ip, port, typ in _CANDIDATE.findall(sdp)}


def browser_pair(
    requests: list[BindingRequest], browser: dict[str, str], asterisk: dict[str, str]
) -> str | None:
    """The browser's `local/remote` pair from the last nominating Binding request seen inside
    the NAT (pure): the browser's when it controls, Asterisk's (reversed) when Asterisk does.
    An address the browser's peer never signalled is peer-reflexive."""
    for req in reversed(requests):
        if not req.use_candidate:
            continue
        if req.src in browser:
            return pairs.pair_text(browser[req.src], asterisk.get(req.dst, "prflx"))
        if req.dst in browser:
            return pairs.pair_text(browser[req.dst], asterisk.get(req.src, "prflx"))
    return None


async def _poll(
    browser: BrowserClient, fn: str, limit: float, done: Callable[[Stats], bool]
) -> Stats:
    """Call the page's `fn` until `done` says so, the call ends, or `limit` s pass."""
    deadline = time.monotonic() + limit
    state: Stats = await browser.rpc(fn)
    while not done(state) and time.monotonic() < deadline:
        events = state.get("events", [])
        if state.get("state") == "ended" or any(e["what"] == "terminated" for e in events):
            break
        if state.get("connection") in ("failed", "closed"):
            break
        await asyncio.sleep(POLL)
        state = await browser.rpc(fn)
    return state


async def _answer(browser: BrowserClient, ring: float) -> None:
    """Take the incoming call, ring `ring` s, accept it."""
    await browser.rpc("nextIncoming", int(SETUP_SLACK * 1000))
    await browser.rpc("ring")
    await asyncio.sleep(ring)
    await browser.rpc("accept")


async def _media(browser: BrowserClient, cell: BrowserNatCell) -> None:
    stats = await _poll(
        browser,
        "stats",
        CONNECT_WAIT,
        lambda s: s["connection"] == "connected" and s["dtls"] == "connected",
    )
    cell.connection, cell.dtls = stats["connection"], stats["dtls"]
    if cell.connected:
        start = stats

        def counted(now: Stats) -> tuple[int, int]:
            return (
                now["packetsReceived"] - start["packetsReceived"],
                now["packetsSent"] - start["packetsSent"],
            )

        end = await _poll(browser, "stats", AUDIO_WAIT, lambda s: min(counted(s)) >= AUDIO_PACKETS)
        cell.received, cell.sent = counted(end)


async def run_browser_cell(
    net: NatNet,
    kind: str,
    browser: BrowserClient,
    sandbox: Any,
    ast: AsteriskJingle,
    direction: str,
    ring: float,
    keep: Path | None = None,
) -> BrowserNatCell:
    """Set the NAT kind and the ring, run one call, and read both sides. For "out" the
    dialplan rings `ring` s (the sandbox needs `answer_delay=cells.RING_EXPR`); for "in" the
    browser does. A failed cell's slice of Asterisk's log is kept in `keep` if given."""
    cell = BrowserNatCell(browser.kind, kind, direction, ring, version=browser.version)
    # The firewall that blocks UDP lets the page's WebSocket (to the relay) out, as the web.
    net.set_kind(kind, web_ports=(int(urlsplit(browser.ws_url).port or 0),))
    await asyncio.to_thread(sandbox.rx, f"dialplan set global {RING_VAR} {ring:g}")
    tail = observe.LogTail(Path(sandbox.log_dir) / "full")
    with tempfile.TemporaryDirectory(prefix="callctl-natb-") as tmp:
        pcap = Path(tmp) / "lan.pcap"
        # Behind the UDP-blocking firewall the checks go through TURN over TCP: the nominating
        # one is seen between coturn's relay and Asterisk, both on the root namespace's `lo`.
        where = ("lo", None) if kind == "udp-blocked" else (net.lan.ns_link, net.lan.name)
        with tcpdump(pcap, *where):
            await _call(browser, sandbox, ast, cell)
        requests = await asyncio.to_thread(binding_requests, pcap)
    await asyncio.sleep(1.0)  # Asterisk logs the hangup
    log = tail.read()
    cell.asterisk_ice = observe.ice_completions(log)
    report = analyze_stream(io.BytesIO(log.encode())).report()
    cell.signatures = sorted(report["signatures"])
    # Session signatures carry their evidence in the session's report, the others in findings.
    found = [*report["findings"], *(f for s in report["sessions"] for f in s["signatures"])]
    cell.evidence = {f["signature"]: f["evidence"] for f in found}
    cell.asterisk_pair = pairs.asterisk_pair(report, cell.browser_candidates)
    cell.browser_pair = browser_pair(requests, cell.browser_candidates, cell.asterisk_candidates)
    if keep is not None and not cell.passed:
        path = keep / f"{cell.key.replace('/', '-')}-{time.time_ns()}.log"
        path.write_text(log)
        cell.capture = str(path)
    return cell


async def _call(
    browser: BrowserClient, sandbox: Any, ast: AsteriskJingle, cell: BrowserNatCell
) -> None:
    try:
        if cell.direction == "out":
            await browser.rpc("call", ast.jid)
            report = await _poll(
                browser, "report", cell.ring + SETUP_SLACK, lambda r: "accept" in r["marks"]
            )
            cell.accepted = "accept" in report["marks"]
        else:
            ringing: Awaitable[None] = _answer(browser, cell.ring)
            await asyncio.gather(
                originate.call_from_asterisk(sandbox, ast.dial(browser.full_jid), "Echo"),
                ringing,
            )
            cell.accepted = True
        if cell.accepted:
            await _media(browser, cell)
        cell.browser_candidates = signalled(await browser.rpc("localSdp"))
        cell.asterisk_candidates = signalled(await browser.rpc("remoteSdp"))
    except BrowserError as exc:
        cell.error = f"{exc} (console: {browser.tail(5)})"
    finally:
        with contextlib.suppress(BrowserError):
            report = await browser.rpc("report")
            cell.page_errors = [
                f"{e['what']}: {e.get('detail')}"
                for e in report["events"]
                if e["what"] in _PAGE_TROUBLE
            ]
        with contextlib.suppress(BrowserError):
            await browser.rpc("hangup")
