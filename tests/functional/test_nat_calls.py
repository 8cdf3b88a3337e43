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

import os

import pytest
from support.nat.cells import record, run_nat_cell
from support.nat.fixtures import *  # noqa: F403 (the NAT rig's fixtures)
from support.nat.fixtures import NatRig

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

STOCK_GIVES_UP = 7.9  # s: stock pjnath fails a check list nobody answers after this
CLAIM_RING = 60.0  # the write-up's cell rings 60 s (patched 0100 waits up to 120 s)
# The other long cells: > STOCK_GIVES_UP. CALLCTL_NAT_LONG_RING=60 reruns them with a 60 s
# ring; CI keeps 10 s (docs/jingle-rig.md has the 60 s run).
LONG_RING = float(os.environ.get("CALLCTL_NAT_LONG_RING", "10"))


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_port_restricted_nat_60s_ring(
    request: pytest.FixtureRequest,
    flavour: str,
    nat_rig: NatRig,
) -> None:
    """The write-up's call: a host-only plain caller (it signals only its private address),
    the phone answers after 60 s. The failure needs a ring longer than stock's 7.9 s give-up;
    the cell costs about 75 s on stock, 65 s patched."""
    stock = flavour == "stock"
    net = nat_rig.net
    sandbox, ast = await nat_rig.asterisk(flavour)
    client = await nat_rig.clients("alice", "plain")
    # The control: the same NAT with a 1 s ring (Asterisk's checks have not failed yet when
    # the caller's arrive) connects on both builds, so the NAT alone is not the cause.
    short = await run_nat_cell(net, "port-restricted", client, sandbox, ast, "out", 1.0)
    # The long cell: the one the write-up describes (a phone picked up after a minute).
    long = await run_nat_cell(net, "port-restricted", client, sandbox, ast, "out", CLAIM_RING)
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


# The pair each kind must win on (client local/remote, Asterisk local/remote):
# port-restricted: the caller's checks leave from the port its srflx names (endpoint-
#   independent mapping), so Asterisk sees the srflx candidate;
# symmetric: each destination gets its own port, so Asterisk learns a peer-reflexive one;
# udp-blocked: only TURN over TCP gets out; both sides use the relayed candidate.
PAIRS = {
    "port-restricted": ("host/host", "host/srflx"),
    "symmetric": ("host/host", "host/prflx"),
    "udp-blocked": ("relay/host", "host/relay"),
}
# (kind, TURN transport, direction, ring): a client with coturn as STUN and TURN server.
# Long rings only where the write-up's failure can happen (calls the client places: Asterisk
# starts checking at the offer); a call Asterisk places starts its checks only once the
# client's answer brought its candidates, so its ring changes nothing and stays short. Each
# long cell costs about 20 s on stock (10 s ring, then the client's bounded wait for media).
KIND_CELLS = [
    ("port-restricted", "udp", "out", LONG_RING),
    ("port-restricted", "udp", "in", 1.0),
    ("symmetric", "udp", "out", 1.0),
    ("symmetric", "udp", "out", LONG_RING),
    ("symmetric", "udp", "in", 1.0),
    ("udp-blocked", "tcp", "out", 1.0),
    ("udp-blocked", "tcp", "out", LONG_RING),
    ("udp-blocked", "tcp", "in", 1.0),
]


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_each_nat_kind_with_stun_and_turn(
    request: pytest.FixtureRequest,
    flavour: str,
    nat_rig: NatRig,
) -> None:
    """A plain caller that gathers host, srflx (coturn as STUN) and relay (TURN over UDP, or
    TCP behind the UDP-blocking firewall) candidates, behind each NAT kind, both directions.
    Stock fails exactly the long-ring calls the client places, for the write-up's reason,
    whatever the NAT; the patched series connects every cell on the kind's expected pair."""
    stock = flavour == "stock"
    sandbox, ast = await nat_rig.asterisk(flavour)
    clients = {
        transport: await nat_rig.clients(
            "alice", "plain", f"plain-{transport}", stun=True, turn=transport
        )
        for transport in ("udp", "tcp")
    }
    results = []
    for kind, transport, direction, ring in KIND_CELLS:
        client = clients[transport]
        cell = await run_nat_cell(nat_rig.net, kind, client, sandbox, ast, direction, ring)
        results.append(cell)
    record(request, flavour, results)
    wrong = []
    for cell in results:
        late_peer = cell.cell.direction == "out" and cell.ring > STOCK_GIVES_UP
        if stock and late_peer:
            ok = (
                not cell.passed
                and cell.cell.received == 0
                and "late-peer-no-triggered-check" in cell.signatures
            )
        else:
            ok = cell.passed and (cell.client_pair, cell.asterisk_pair) == PAIRS[cell.kind]
        if not ok:
            wrong.append(cell.why())
    assert not wrong, "\n".join(wrong)
