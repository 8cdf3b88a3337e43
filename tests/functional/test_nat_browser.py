"""Real browsers behind the NAT rig (tests/support/webrtc in the client namespace, StanzaJS,
host candidates only unless given a TURN server), calling and called by a sandbox Asterisk's
Echo(). The browser's WebSocket to prosody goes through the NAT to a relay on the public side.

The write-up's claim with a real browser: behind a home router (port-restricted NAT) with a
phone that rings 60 s, a build of the series minus the ICE fixes (asterisk 0050, pjproject
0100; specs/minus-ice.yaml) fails the browser's call the write-up's way, and the full series
connects it. Stock cannot show this with a browser: it ends the call before ICE (it takes the
browser's `<fingerprint/>` for a candidate), which the stock cell asserts.

Every NAT kind, both browsers, both directions, answered at once and after 10 s
(`test_browsers_behind_each_nat_kind`, UDP-blocked through TURN over TCP) is opt-in:
`CALLCTL_NAT_BROWSERS=all` (about 4 min; docs/jingle-rig.md has the results).
"""

from __future__ import annotations

import os

import pytest
from support.nat.browser_cells import BrowserNatCell, run_browser_cell
from support.nat.cells import record
from support.nat.fixtures import *  # noqa: F403 (the NAT rig's fixtures)
from support.nat.fixtures import NatRig, browser_turn

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

CLAIM_RING = 60.0  # the write-up's long ring (stock pjnath gives up after 7.9 s)
MATRIX = os.environ.get("CALLCTL_NAT_BROWSERS", "") == "all"


@pytest.mark.parametrize("flavour", ["stock", "minus-ice", "patched"])
async def test_browser_behind_port_restricted_nat_60s_ring(flavour: str, nat_rig: NatRig) -> None:
    """The write-up's call with a real browser: Chromium behind a home router calls, the phone
    answers after 60 s. Stock ends the call at the offer, so its cell costs no ring."""
    sandbox, ast = await nat_rig.asterisk(flavour)
    browser = await nat_rig.browsers("chromium")
    net = nat_rig.net
    tmp = nat_rig.request.getfixturevalue("tmp_path")
    cell = await run_browser_cell(
        net, "port-restricted", browser, sandbox, ast, "out", CLAIM_RING, keep=tmp
    )
    record(nat_rig.request, flavour, [cell])
    if flavour == "stock":
        # Why the claim needs the minus-ice build: stock never gets to ICE with a browser (the
        # call may end before the browser has gathered at all).
        assert not cell.connected and cell.received == 0, cell.why()
        assert "webrtc-fingerprint-as-candidate" in cell.signatures, cell.why()
        return
    # The browser signals only its private address, behind the NAT (no STUN, no mDNS name).
    assert set(cell.browser_candidates.values()) == {"host"}, cell.why()
    assert all(a.startswith(f"{net.lan.ns_addr}:") for a in cell.browser_candidates)
    if flavour == "minus-ice":
        assert cell.accepted, cell.why()
        assert_write_up_failure(cell)
    else:
        assert cell.passed, cell.why()
        assert "late-peer-no-triggered-check" not in cell.signatures, cell.why()
        assert (cell.browser_pair, cell.asterisk_pair) == ("host/host", "host/prflx"), cell.why()


def assert_write_up_failure(cell: BrowserNatCell) -> None:
    """Asterisk's checks failed while the phone rang, the browser's later checks got no
    triggered check, so Asterisk never chose a pair, and `callctl ice analyze` names it."""
    assert not cell.passed and cell.received == 0, cell.why()
    assert any("EICEFAILED" in v for v in cell.asterisk_ice), cell.why()
    assert cell.asterisk_pair is None, cell.why()
    assert "late-peer-no-triggered-check" in cell.signatures, cell.why()


# What each kind must win on, (browser local/remote, Asterisk local/remote): the browser has
# host candidates only, so Asterisk learns the NAT's mapping from the browser's checks
# (peer-reflexive) behind either NAT; calls Asterisk places (patched: controlling) the same.
BROWSER_PAIRS = {
    "port-restricted": ("host/host", "host/prflx"),
    "symmetric": ("host/host", "host/prflx"),
    # Only TURN over TCP gets out: the browser's relayed candidate on both sides.
    "udp-blocked": ("relay/host", "host/relay"),
}
MATRIX_CELLS = [
    (kind, direction, ring)
    for kind in BROWSER_PAIRS
    for direction in ("out", "in")
    for ring in (0.0, 10.0)
]


@pytest.mark.skipif(not MATRIX, reason="opt-in: CALLCTL_NAT_BROWSERS=all (about 4 min)")
async def test_browsers_behind_each_nat_kind(nat_rig: NatRig) -> None:
    """Chromium and Firefox behind each NAT kind, both directions, at once and after 10 s, on
    the patched build (one Asterisk, one browser after the other; the UDP-blocked cells with
    coturn as the page's TURN server over TCP)."""
    sandbox, ast = await nat_rig.asterisk("patched")
    turn = browser_turn(nat_rig.request.getfixturevalue("nat_turn"), "alice")
    captures = nat_rig.request.getfixturevalue("tmp_path")  # failed cells' Asterisk logs
    results = []
    for kind in ("chromium", "firefox"):
        # Host candidates only behind the NATs; coturn over TCP behind the UDP-blocking firewall.
        plain = await nat_rig.browsers(kind)
        with_turn = await nat_rig.browsers(kind, ice_servers=turn)
        for nat, direction, ring in MATRIX_CELLS:
            browser = with_turn if nat == "udp-blocked" else plain
            cell = await run_browser_cell(
                nat_rig.net, nat, browser, sandbox, ast, direction, ring, keep=captures
            )
            results.append(cell)
        await plain.close()
        await with_turn.close()
    record(nat_rig.request, "patched", results)
    wrong = [
        cell.why()
        for cell in results
        if not cell.passed or (cell.browser_pair, cell.asterisk_pair) != BROWSER_PAIRS[cell.kind]
    ]
    assert not wrong, "\n".join(wrong)
