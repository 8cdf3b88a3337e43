"""A real browser behind a home router (port-restricted NAT) calls Asterisk, which answers after
10 s: the write-up's own setup (Movim in Chromium), end to end.

The browser (tests/support/webrtc: headless Chromium running StanzaJS) sits in the NAT rig's
client namespace with host candidates only (the page has no ICE servers), so Asterisk can reach
it only through the mapping the browser's own checks open, learnt as peer-reflexive. Stock
Asterisk fails a browser before ICE (it takes the `<fingerprint/>` of the browser's transport
for a candidate: no DTLS-SRTP), so the stock column shows that, named by `callctl ice analyze`;
the full patched series connects with DTLS-SRTP and audio both ways. The ICE-fixes-only build
(the series minus 0050 and 0100) that would show the late-peer failure with a browser is not
built by this suite. The long ring is here because it is the write-up's case; the cell costs
about 25 s per build (browser start, 10 s ring, 3 s of audio).
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from callctl.icelog.cli import analyze_stream
from support.jingle import observe
from support.jingle.fixtures import AsteriskFactory
from support.nat import pairs
from support.nat.cells import RING_EXPR, RING_VAR
from support.nat.fixtures import jingle_net, nat_browser, nat_net  # noqa: F401
from support.nat.topology import NatNet
from support.webrtc.browser import BrowserClient

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

RING = 10.0
CONNECT_WAIT = 10.0  # after the answer
WINDOW = 3.0  # s of audio counted once connected
POLL = 0.1
CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ (\w+)", re.M | re.I)


async def _until(browser: BrowserClient, limit: float, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    stats: dict[str, Any] = await browser.rpc("stats")
    while time.monotonic() < deadline and not done(stats):
        if stats["state"] == "ended" or stats["connection"] in ("failed", "closed"):
            break
        await asyncio.sleep(POLL)
        stats = await browser.rpc("stats")
    return stats


def _accepted(report: dict[str, Any]) -> bool:
    return "accept" in report["marks"]


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_chromium_behind_port_restricted_nat_long_ring(
    request: pytest.FixtureRequest,
    flavour: str,
    nat_net: NatNet,  # noqa: F811
    jingle_asterisk: AsteriskFactory,
    nat_browser: Any,  # noqa: F811
) -> None:
    stock = flavour == "stock"
    build: Any = request.getfixturevalue("asterisk_build_stock" if stock else "asterisk_build")
    sandbox, ast = await jingle_asterisk(build, answer_delay=RING_EXPR, expect_frack=stock)
    browser = await nat_browser("chromium")
    nat_net.set_kind("port-restricted")
    await asyncio.to_thread(sandbox.rx, f"dialplan set global {RING_VAR} {RING:g}")
    tail = observe.LogTail(Path(sandbox.log_dir) / "full")
    await browser.rpc("call", ast.jid)
    deadline = time.monotonic() + RING + 10
    report = await browser.rpc("report")
    while time.monotonic() < deadline and not _accepted(report):
        if any(e["what"] == "terminated" for e in report["events"]):
            break
        await asyncio.sleep(POLL)
        report = await browser.rpc("report")
    connected = False
    received = 0
    if _accepted(report):
        stats = await _until(
            browser,
            CONNECT_WAIT,
            lambda s: s["connection"] == "connected" and s["dtls"] == "connected",
        )
        connected = stats["connection"] == "connected" and stats["dtls"] == "connected"
        if connected:
            await asyncio.sleep(WINDOW)
            received = (await browser.rpc("stats"))["packetsReceived"] - stats["packetsReceived"]
    sdp = await browser.rpc("localSdp")
    await browser.rpc("hangup")
    await asyncio.sleep(1.0)  # Asterisk logs the hangup
    analysis = analyze_stream(io.BytesIO(tail.read().encode())).report()
    signalled = {f"{ip}:{port}": typ for ip, port, typ in CANDIDATE.findall(sdp)}
    asterisk_pair = pairs.asterisk_pair(analysis, signalled)
    why = (
        f"accepted={_accepted(report)} connected={connected} received={received} "
        f"asterisk_pair={asterisk_pair} signalled={signalled} "
        f"analyzer={sorted(analysis['signatures'])} events={report['events'][-5:]}"
    )
    # The browser signals only its private address, behind the NAT (no STUN, no mDNS name).
    assert signalled, why
    assert all(t == "host" and a.split(":")[0] == nat_net.lan.ns_addr for a, t in signalled.items())
    if stock:
        assert not connected and received == 0, why
        assert "webrtc-fingerprint-as-candidate" in analysis["signatures"], why
    else:
        assert connected and received >= 0.8 * WINDOW * 50, why
        assert asterisk_pair == "host/prflx", why
