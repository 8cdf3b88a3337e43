"""The real-browser rig by itself (issue 12, item 4): headless Chromium and Firefox ESR from
Debian, each running the StanzaJS page in the rig's namespace, log in to prosody over
WebSocket, get fake audio, and offer host candidates from the rig's /30 only. No Asterisk.

A browser that cannot start fails these tests (BrowserError); CI installs the browsers.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from support.jingle.netns import RigNet
from support.webrtc.browser import BrowserClient
from support.webrtc.capture import binding_requests, nominations, tcpdump
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


@pytest.mark.parametrize("renomination", [True, False], ids=["renomination", "plain"])
async def test_chromium_renominates_with_nomination_when_both_sides_signal_it(
    renomination: bool, webrtc_browser: BrowserFactory, jingle_net: RigNet, tmp_path: Path
) -> None:
    """The conversations-webrtc profile (issue 12 item 6) on the wire, without Asterisk: two
    Chromiums with `a=ice-options:renomination` munged into both descriptions. libwebrtc's
    controlling agent (the caller) then nominates with NOMINATION (0xC001) and never sends
    USE-CANDIDATE; without the option it sends USE-CANDIDATE and no NOMINATION (the control).
    Both browsers share the namespace's address, so the checks cross its loopback."""
    caller = await webrtc_browser("chromium", user="alice", renomination=renomination)
    callee = await webrtc_browser("chromium", user="bob", renomination=renomination)
    pcap = tmp_path / "b2b.pcap"
    with tcpdump(pcap, "lo", jingle_net.name):
        await caller.rpc("call", callee.full_jid)
        await callee.rpc("nextIncoming", 15000)
        await callee.rpc("accept")
        stats = await _connected(caller)
        await asyncio.sleep(1.0)
    assert stats["connection"] == "connected", (stats, caller.tail())
    assert "renomination" in (await caller.rpc("remoteSdp")) or not renomination
    seen = nominations(binding_requests(pcap))
    assert seen["requests"] > 0, seen
    if renomination:
        assert seen["nomination"] > 0 and seen["use_candidate"] == 0, seen
    else:
        assert seen["use_candidate"] > 0 and seen["nomination"] == 0, seen


async def _connected(browser: BrowserClient, limit: float = 10.0) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for _ in range(int(limit / 0.1)):
        stats = await browser.rpc("stats")
        if stats["connection"] == "connected" and stats["dtls"] == "connected":
            break
        await asyncio.sleep(0.1)
    return stats
