"""The real-browser rig by itself (issue 12, item 4): headless Chromium and Firefox ESR from
Debian, each running the StanzaJS page in the rig's namespace, log in to prosody over
WebSocket, get fake audio, and offer host candidates from the rig's /30 only. No Asterisk.

A browser that cannot start fails these tests (BrowserError); CI installs the browsers.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from support.jingle.netns import RigNet
from support.webrtc.fixtures import BrowserFactory

pytestmark = [pytest.mark.slow]

CANDIDATE = re.compile(r"^a=candidate:\S+ (\d) udp \d+ (\S+) \d+ typ (\w+)", re.M | re.I)


@pytest.mark.parametrize("kind", ["chromium", "firefox"])
async def test_browser_logs_in_and_gathers_host_candidates_in_the_namespace(
    kind: str, webrtc_browser: BrowserFactory, jingle_net: RigNet
) -> None:
    caller = await webrtc_browser(kind, user="alice")
    callee = await webrtc_browser(kind, user="bob")
    assert caller.version and callee.version
    # A browser-to-browser call through prosody: both pages' signalling over WebSocket, media
    # on the namespace's own address (both ends in the namespace).
    await caller.rpc("call", callee.full_jid)
    incoming = await callee.rpc("nextIncoming", 15000)
    assert incoming["peer"] == caller.full_jid
    await callee.rpc("accept")
    stats = {}
    for _ in range(100):
        stats = await caller.rpc("stats")
        if stats["packetsReceived"] >= 50:
            break
        await asyncio.sleep(0.1)
    assert stats["connection"] == "connected" and stats["dtls"] == "connected", (
        stats,
        caller.tail(),
    )
    assert stats["packetsReceived"] >= 50, stats
    sdp = await caller.rpc("localSdp")
    found = CANDIDATE.findall(sdp)
    assert found, sdp
    assert all(typ == "host" and jingle_net.contains(addr) for _, addr, typ in found), found
