"""The write-up's central failure, end to end: a Jingle caller behind a home router's NAT.

While the phone rings, Asterisk (chan_motif has the caller's candidates from the offer) sends
its checks toward the caller's candidates; the caller's NAT has no mapping for Asterisk yet
(the caller starts ICE only with the session-accept, as WebRTC callers do), so it drops them,
and stock pjnath fails the pairs after ~7.9 s. After the answer the caller's checks arrive,
Asterisk answers them but sends no triggered check back (its check list already failed), so
stock never completes ICE and the call gets no media. The patched series (pjnath 0100: a
Failed pair goes back to Waiting on an incoming check, and the controlled agent waits for a
late peer) connects.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.jingle.fixtures import AsteriskFactory, ClientFactory
from support.nat.cells import RING_EXPR, record, run_nat_cell
from support.nat.fixtures import jingle_net, nat_clients, nat_net  # noqa: F401
from support.nat.topology import NatNet

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

LONG_RING = 10.0  # > the 7.9 s after which stock pjnath gives up its checks


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_port_restricted_nat_long_ring(
    request: pytest.FixtureRequest,
    flavour: str,
    nat_net: NatNet,  # noqa: F811
    jingle_asterisk: AsteriskFactory,
    nat_clients: ClientFactory,  # noqa: F811
) -> None:
    stock = flavour == "stock"
    build: Any = request.getfixturevalue("asterisk_build_stock" if stock else "asterisk_build")
    sandbox, ast = await jingle_asterisk(build, answer_delay=RING_EXPR, expect_frack=stock)
    client = await nat_clients("alice", "plain")
    # The control: the same NAT with a 1 s ring (Asterisk's checks have not failed yet when
    # the caller's arrive) connects on both builds, so the NAT alone is not the cause.
    short = await run_nat_cell(nat_net, "port-restricted", client, sandbox, ast, "out", 1.0)
    # The long cell: the one the write-up describes (a phone picked up after 10 s).
    long = await run_nat_cell(nat_net, "port-restricted", client, sandbox, ast, "out", LONG_RING)
    record(request, flavour, [short, long])
    assert short.passed, short.why()
    # The caller signalled only its private address; Asterisk reaches it through the NAT's
    # mapping, learnt from the caller's own check (peer-reflexive).
    assert (short.client_pair, short.asterisk_pair) == ("host/host", "host/prflx"), short.why()
    if stock:
        assert not long.passed, long.why()
        # The write-up's failure, step by step: Asterisk's checks failed while ringing ...
        assert any("EICEFAILED" in v for v in long.cell.asterisk_ice), long.why()
        # ... the caller's later checks got answers (aioice completes on those) ...
        assert long.cell.client_ice, long.why()
        # ... but no triggered check, so Asterisk never chose a pair and no audio came back;
        assert long.asterisk_pair is None and long.cell.received == 0, long.why()
        # and `callctl ice analyze` names it.
        assert "late-peer-no-triggered-check" in long.signatures, long.why()
    else:
        assert long.passed, long.why()
        assert "late-peer-no-triggered-check" not in long.signatures, long.why()
        assert (long.client_pair, long.asterisk_pair) == ("host/host", "host/prflx"), long.why()
