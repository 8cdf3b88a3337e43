"""Asterisk itself behind a 1:1 NAT (issue 18 item 1): its private address is unreachable from
the client's side, and rtp.conf's `[ice_host_candidates]` maps it to the public one.

The client is not NATed here (it plays a host on the Internet); the router DNATs Asterisk's
public address to its private one and SNATs what Asterisk sends (support/nat/topology.py,
`asterisk-1to1`). Short rings only: the ring plays no part in what this tests. About 15 s per
build.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.nat.cells import record, run_nat_cell
from support.nat.fixtures import *  # noqa: F403 (the NAT rig's fixtures)
from support.nat.fixtures import NatRig
from support.nat.topology import ASTERISK_1TO1

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


async def map_host_candidate(sandbox: Any, private: str, public: str) -> None:
    """Add `[ice_host_candidates] private => public` to the sandbox's rtp.conf and reload."""
    rtp_conf = Path(sandbox.conf).parent / "rtp.conf"
    text = rtp_conf.read_text()
    # res_rtp_asterisk checks the advertised address against ice_permit/ice_deny too: the
    # rig denies everything but its /30 (last match wins), so permit the public address
    # after those lines, at the end of [general] (the file's only section).
    assert text.count("[") == 1 and text.startswith("[general]"), text
    rtp_conf.write_text(
        f"{text.rstrip()}\nice_permit = {public}/32\n\n"
        f"[ice_host_candidates]\n{private} => {public}\n"
    )
    await asyncio.to_thread(sandbox.rx, "module reload res_rtp_asterisk.so")


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_asterisk_behind_one_to_one_nat(
    request: pytest.FixtureRequest,
    flavour: str,
    nat_rig: NatRig,
) -> None:
    stock = flavour == "stock"
    net = nat_rig.net
    sandbox, ast = await nat_rig.asterisk(flavour)
    client = await nat_rig.clients("alice", "plain")
    private, public = net.wan.host_addr, net.asterisk_public
    # Without the mapping Asterisk signals its private address, which the client's side cannot
    # reach; a call Asterisk places still connects, because its own checks arrive from the
    # public address and the client learns that as peer-reflexive.
    before = await run_nat_cell(net, ASTERISK_1TO1, client, sandbox, ast, "in", 1.0)
    await map_host_candidate(sandbox, private, public)
    # With it Asterisk signals the public address only, and both sides pair host with host.
    # Calls the client places only on the patched build: stock's plain out-call fails its ICE
    # at random even without any NAT (docs/jingle-rig.md, role Unknown), which is not what
    # this test is about.
    directions = ["in"] if stock else ["in", "out"]
    after = [
        await run_nat_cell(net, ASTERISK_1TO1, client, sandbox, ast, direction, 1.0)
        for direction in directions
    ]
    record(request, flavour, [before, *after])
    assert before.asterisk_signalled == [f"{private} host"], before.why()
    assert before.passed and before.client_pair == "host/prflx", before.why()
    for cell in after:
        assert cell.asterisk_signalled == [f"{public} host"], cell.why()
        assert cell.passed, cell.why()
        assert (cell.client_pair, cell.asterisk_pair) == ("host/host", "host/host"), cell.why()
