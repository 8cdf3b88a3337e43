"""The rig tells stock from patched Asterisk, one cell per known bug (issues 6 and 8).

A cell passes when ICE completes on both sides within 2 s of the answer and the echo comes
back (`jingle.cells`). Each stock failure below is the one the seed or NOTES.md predicts; the
patched build (specs/default.yaml, the series in patches/) must pass them all. This is a
sample for the rig's sake, not the interop matrix (no phone side, 1 s of ringing).
"""

from __future__ import annotations

import asyncio

import pytest
from support import builds
from support.builds import FlavourBuild
from support.jingle.cells import run_cell
from support.jingle.fixtures import AsteriskFactory, ClientFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

flavour_build = builds.flavour_build

# (profile, direction, passes on stock, why stock fails)
CELLS = [
    ("plain", "in", True, "Asterisk calls, controls ICE and nominates: the seed's working case"),
    ("gajim", "out", False, "chan_motif labels the client's content creator='responder'"),
    ("chromium", "out", False, "one component: Asterisk skips its checklist, never completes"),
    ("firefox", "in", False, "per-component trickle: ICE restarted with component 2 only"),
    ("conversations", "out", False, "NOMINATION (0xC001) unknown to pjnath: never nominated"),
]


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_cells_fail_on_stock_as_predicted_and_pass_patched(
    flavour_build: FlavourBuild,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    stock, build = flavour_build.stock, flavour_build.build
    sandbox, ast = await jingle_asterisk(build, answer_delay=1.0, expect_frack=stock)
    outcomes = []
    for profile, direction, stock_passes, why in CELLS:
        client = await jingle_clients("alice", profile, resource=f"{profile}-{direction}")
        result = await run_cell(client, sandbox, ast, direction, ring=1.0)
        expected = stock_passes if stock else True
        outcomes.append((result.passed == expected, result.why(), why))
    wrong = [f"{line}  [stock: {why}]" for ok, line, why in outcomes if not ok]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_asterisk_media_follows_the_nominated_pair_only_when_patched(
    flavour_build: FlavourBuild,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    """Patch 0010 (the seed's Chromium bug): the client offers two host candidates and
    nominates the lower-priority one. Stock res_rtp_asterisk takes the media address from the
    first valid pair (the higher-priority candidate); patched from the nominated pair."""
    stock, build = flavour_build.stock, flavour_build.build
    _, ast = await jingle_asterisk(build, answer_delay=1.0, expect_frack=stock)
    client = await jingle_clients("alice", "plain", host_candidates=2, nominate_host=1)
    call = await client.call(ast.jid)
    await asyncio.wait_for(call.accepted.wait(), 10)
    assert await call.wait_ice(10), call.ice_error
    sent = await call.send_media(100)
    await asyncio.sleep(0.5)
    high, low = sorted(
        (c for c in call.ice.local_candidates if c.component == 1), key=lambda c: -c.priority
    )
    to_high = call.ice.media_by_port.get(high.port, 0)
    to_low = call.ice.media_by_port.get(low.port, 0)
    await call.hangup()
    if stock:
        assert to_high > to_low, (to_high, to_low)
    else:
        assert (to_high, to_low >= 0.95 * sent) == (0, True), (to_high, to_low)


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_a_ten_second_ring_breaks_stock_ice_only(
    flavour_build: FlavourBuild,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    """The phone rings 10 s, longer than pjnath's 7.9 s check timeout; the caller starts ICE at
    the answer. Stock Asterisk checked from the session-initiate on, gave up, and then ignores
    the caller's checks (`PJNATH_EICEFAILED`, "Ignored incoming check"); patched waits."""
    stock, build = flavour_build.stock, flavour_build.build
    sandbox, ast = await jingle_asterisk(build, answer_delay=10.0, expect_frack=stock)
    client = await jingle_clients("alice", "plain")
    result = await run_cell(client, sandbox, ast, "out")
    if stock:
        assert not result.passed, result.why()
        assert any("PJNATH_EICEFAILED" in v for v in result.asterisk_ice), result.why()
    else:
        assert result.passed, result.why()
