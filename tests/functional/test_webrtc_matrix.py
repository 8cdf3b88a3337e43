"""The interop matrix's real-client rows (issue 12, item 5): headless Chromium and Firefox ESR
running StanzaJS (tests/support/webrtc) x {browser calls the phone, phone calls the browser}
x {answer at once, after 10 s, after 60 s of ringing} x {stock, patched}.

Routing is the emulated matrix's (support.jingle.matrix): one sandbox per build, callctl's
routing daemon with its XMPP component, so the browser calls a number JID
(`+15550104488@gw.localhost`, routed by that number, never a hotline) and a DID per browser
rings it from `+CALLER@gw.localhost` (issue 13 item 6); a SIPp `-rtp_echo` phone on trunk
carrier-a. A cell passes when the browser's
RTCPeerConnection and its DTLS transport reach `connected`, getStats counts at least 200
audio packets each way in 5 s, and SIPp's echo count matches what Asterisk sent it
(support.webrtc.cells).

60 s of ringing is run for calls the browser places only (2 cells per build, not 4), to keep
CI's budget: it is the direction where ringing can matter. While the phone rings, Asterisk
already holds the browser's trickled candidates and its ICE session could run out of time
before the answer (the late-peer bug, pjproject 0100 / asterisk 0050). When the phone calls
the browser, the browser creates its answer - and so gathers, trickles and checks - only when
it accepts, so Asterisk has nothing to check while it rings: 60 s there is the same call as
10 s (the 10 s cells of that direction stay).

`conversations-webrtc` (issue 12 item 6): Chromium with `a=ice-options:renomination` munged
into both descriptions (the page's `renomination` option), calling out, as the Conversations
of the write-up did. A tcpdump capture on the rig's veth, read by tshark, must show the
browser's checks nominating with NOMINATION (0xC001) and never with USE-CANDIDATE (libwebrtc
does exactly that once both sides signal the option: test_webrtc_rig.py shows it between two
browsers, with a control); the patched build must pass the cell, stock fails it.

Stock fails every cell, and for each `callctl ice analyze` must name the cause in the cell's
debug capture (STOCK_CAUSES: the signatures of controller/callctl/icelog/webrtc.py). The
patched column must pass every cell; a patched build without the chan_motif WebRTC patches
(WEBRTC_PATCHES) is a strict expected failure instead (its run fails the way the issue says:
BUNDLE group refused out, no fingerprint / rtcp-mux in).
Results: `$CALLCTL_WEBRTC_MATRIX_OUT` or `webrtc-matrix.json` in the pytest basetemp, in the
emulated matrix's format (scripts/matrix_table.py renders both).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from support import builds
from support.builds import FlavourBuild
from support.jingle.component import ComponentConf
from support.jingle.fixtures import AsteriskFactory
from support.jingle.matrix import RING_LONG, CellSpec, matrix, routed_asterisk
from support.jingle.netns import RigNet
from support.matrix_results import save_column
from support.webrtc import cells
from support.webrtc.capture import binding_requests, nominations, tcpdump
from support.webrtc.fixtures import BrowserFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

flavour_build = builds.flavour_build

RING_VERY_LONG = 60.0
# profile -> (browser, renomination munged into both descriptions)
BROWSERS = {
    "chromium-webrtc": ("chromium", False),
    "firefox-webrtc": ("firefox", False),
    "conversations-webrtc": ("chromium", True),
}
SPECS = [
    CellSpec(profile, direction, ring)
    for profile in ("chromium-webrtc", "firefox-webrtc")
    for direction in ("out", "in")
    for ring in (0.0, RING_LONG, RING_VERY_LONG)
    if not (direction == "in" and ring == RING_VERY_LONG)
]
# Issue 12 item 6: Chromium as the Conversations of the write-up, calling out (the direction
# where the client is the controlling agent and so the one that nominates).
CONVERSATIONS = CellSpec("conversations-webrtc", "out", 0.0)
SPECS.append(CONVERSATIONS)
RING_TIMEOUT = 90  # the daemon's policy: longer than the longest ring
# The chan_motif patches of issue 12 items 1-3 (XEP-0320 DTLS-SRTP, rtcp-mux offered, what real
# clients send). A patched build without all of them cannot pass a real-client cell: its
# column is then an expected failure, strict (it must fail, and turns red once it passes).
WEBRTC_PATCHES = (
    "0080-chan_motif-accept-real-client-input",
    "0090-chan_motif-dtls-srtp",
    "0100-chan_motif-offer-rtcp-mux",
)


def missing_webrtc_patches(build: Any) -> list[str]:
    names = [p["name"] for p in build.manifest.get("patches", {}).get("asterisk", [])]
    return [w for w in WEBRTC_PATCHES if not any(n.startswith(w) for n in names)]


# What stops each stock call, by direction (issue 12; the same for both browsers and every
# ring time): the analyzer signature that must be in the cell's capture.
STOCK_CAUSES: dict[str, frozenset[str]] = {
    # The browser's <transport/> carries its XEP-0320 <fingerprint/>; stock chan_motif takes
    # every child of <transport/> for a candidate, logs "Incomplete ICE-UDP candidate" and ends
    # the call failed-transport before the BUNDLE <group/> or DTLS matter.
    "out": frozenset({"webrtc-fingerprint-as-candidate"}),
    # Asterisk's offer has no fingerprint, no <rtcp-mux/> (and a <transport/> without ufrag or
    # pwd); StanzaJS turns it into an m-line with port 0, so the browser answers the content
    # with senders='none' and no transport: no media can flow.
    "in": frozenset({"webrtc-no-fingerprint", "webrtc-rtcp-mux-missing"}),
}


def results_path(basetemp: Path) -> Path:
    return Path(os.environ.get("CALLCTL_WEBRTC_MATRIX_OUT") or basetemp / "webrtc-matrix.json")


def judge(flavour: str, result: cells.BrowserCellResult) -> str | None:
    """None when the cell came out as predicted, else what is wrong."""
    if flavour == "patched":
        if not result.passed:
            return "patched must pass"
        if result.spec == CONVERSATIONS and not (
            result.nominations.get("nomination") and not result.nominations.get("use_candidate")
        ):
            return f"the capture must show NOMINATION and no USE-CANDIDATE: {result.nominations}"
        return None
    if result.passed:
        return "stock must fail every real-client cell"
    if result.error:
        return f"failed for another reason than predicted: {result.error}"
    if result.received or result.sent:
        return "stock carried audio"
    missing = STOCK_CAUSES[result.spec.direction] - set(result.analyzer)
    if missing:
        return f"the ICE analyzer did not name {sorted(missing)}"
    return None


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_webrtc_interop_matrix(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    flavour_build: FlavourBuild,
    jingle_asterisk: AsteriskFactory,
    jingle_net: RigNet,
    webrtc_browser: BrowserFactory,
    gateway_component: ComponentConf,
) -> None:
    flavour, build = flavour_build.flavour, flavour_build.build
    if not flavour_build.stock and (missing := missing_webrtc_patches(build)):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason=f"the patched build lacks the chan_motif WebRTC patches {missing} "
                "(issue 12 items 1-3): no real-client cell can pass",
            )
        )
    started = time.monotonic()
    routed = await routed_asterisk(jingle_asterisk, build, expect_frack=flavour_build.stock)
    # Browsers start before the cells (a browser that cannot start fails the test here).
    browsers = {
        p: await webrtc_browser(kind, resource=f"w-{p}", renomination=renomination)
        for p, (kind, renomination) in BROWSERS.items()
    }
    only = os.environ.get("CALLCTL_WEBRTC_ONLY")  # e.g. chromium-webrtc/out/at-once (debugging)
    specs = [s for s in SPECS if not only or s.key == only]
    results = []
    # Through callctl's gateway, as the emulated matrix: out cells call NUMBER@gw.localhost,
    # in cells ring the browser from +CALLER@gw.localhost (issue 13 item 6).
    async with matrix(
        flavour, routed, browsers, tmp_path, ring_timeout=RING_TIMEOUT, gateway=gateway_component
    ) as m:
        for spec in specs:
            if spec == CONVERSATIONS:  # the browser's checks, on the veth, read by tshark
                pcap = tmp_path / "conversations-webrtc.pcap"
                with tcpdump(pcap, jingle_net.host_link):
                    result = await cells.run(m, spec, browsers[spec.profile])
                result.nominations = nominations(binding_requests(pcap), jingle_net.ns_addr)
            else:
                result = await cells.run(m, spec, browsers[spec.profile])
            results.append(result)
            print(("PASS " if result.passed else "FAIL ") + result.why(), flush=True)
    out = results_path(tmp_path_factory.getbasetemp())
    cells_doc = [r.to_dict() for r in results]
    save_column(out, flavour, build, cells_doc, time.monotonic() - started)
    wrong = [f"{r.why()}\n    -> {p}" for r in results if (p := judge(flavour, r)) is not None]
    assert not wrong, (
        f"{len(wrong)} real-client cell(s) of the {flavour} column not as predicted "
        f"(results: {out}; captures under {tmp_path / 'captures'}):\n" + "\n".join(wrong)
    )
