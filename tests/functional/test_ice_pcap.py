"""`callctl ice analyze --pcap` on real captures of the Jingle rig (issue 17 items 2 and 4).

tcpdump captures the rig's veth (the only path between Asterisk and the client's media
sockets) while a real cell runs; the capture, with the sandbox's `full` log (pjproject at
level 5), goes through `callctl ice analyze --pcap CAPTURE LOG --json`. Each stock cell's
wire diagnosis must be its known cause (test_jingle_cells.py), and the patched cell's clean.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from callctl.cli import Console, main
from support import builds
from support.builds import FlavourBuild
from support.jingle.asterisk_conf import AsteriskJingle
from support.jingle.cells import run_cell
from support.jingle.fixtures import AsteriskFactory, ClientFactory

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

flavour_build = builds.flavour_build


@contextmanager
def capture(interface: str, path: Path) -> Iterator[Path]:
    """tcpdump on `interface` (UDP only, whole packets, written as they come) until the end
    of the block; stopped with SIGINT (tcpdump flushes and closes the file)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        pytest.skip("tcpdump is not installed (scripts/install-deps.sh installs it)")
    proc = subprocess.Popen(
        [tcpdump, "-i", interface, "-U", "-n", "-s", "0", "-w", str(path), "udp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()  # "listening on IFACE ..." once it captures
        assert "listening on" in line, line
        yield path
    finally:
        time.sleep(0.3)  # the last packets of the call
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def analyze(pcap: Path, log: Path | None) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["ice", "analyze", "--json", "--pcap", str(pcap)] + ([str(log)] if log else [])
    rc = main(argv, Console(stdout=out, stderr=err))
    assert rc == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def agents(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for s in doc["wire"]["sessions"] for a in s["agents"]]


def keep(files: list[Path], label: str) -> None:
    """CALLCTL_SAVE_PCAPS=DIR keeps each cell's capture and log (how tests/data/pcap was made)."""
    target = os.environ.get("CALLCTL_SAVE_PCAPS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, Path(target) / f"{label}-{f.name}")


@dataclass(frozen=True)
class WireCell:
    """The case's build in the rig (Asterisk answers after 1 s), and its veth to capture."""

    flavour: str
    stock: bool
    sandbox: Any
    ast: AsteriskJingle
    link: str  # the rig's veth: the only path between Asterisk and the client's media
    workdir: Path

    def capture(self, name: str) -> AbstractContextManager[Path]:
        return capture(self.link, self.workdir / name)


@pytest.fixture
async def cell(
    flavour_build: FlavourBuild, jingle_asterisk: AsteriskFactory, jingle_net: Any, tmp_path: Path
) -> WireCell:
    stock = flavour_build.stock
    sandbox, ast = await jingle_asterisk(flavour_build.build, answer_delay=1.0, expect_frack=stock)
    return WireCell(flavour_build.flavour, stock, sandbox, ast, jingle_net.host_link, tmp_path)


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_renomination_cell_on_the_wire(cell: WireCell, jingle_clients: ClientFactory) -> None:
    """The conversations profile nominates with NOMINATION 0xC001 only. Stock pjnath ignores
    it and never nominates (test_jingle_cells.py's known cause); patched honours it."""
    client = await jingle_clients("alice", "conversations", resource="conv-out")
    with cell.capture("conversations.pcap") as pcap:
        result = await run_cell(client, cell.sandbox, cell.ast, "out", ring=1.0)
    log = Path(cell.sandbox.log_dir) / "full"
    keep([pcap, log], f"rig-{cell.flavour}")
    doc = analyze(pcap, log)
    wire = doc["wire"]
    assert wire["stun"] > 0 and wire["sessions"], wire
    nominators = [a for a in agents(doc) if a["nomination"]]
    assert nominators and all(a["use_candidate"] == 0 for a in nominators), agents(doc)
    assert nominators[0]["nomination"].get("0xC001", 0) >= 1
    assert nominators[0]["role"] == "controlling"
    sigs = set(wire["signatures"])
    if cell.stock:
        assert not result.passed
        assert "wire-nomination-not-understood" in sigs, wire["sessions"]
    else:
        assert result.passed, result.why()
        assert sigs == set(), wire["sessions"]
    # one timeline: the log's pjnath session is found and placed next to the wire's events
    (s,) = wire["sessions"]
    assert s.get("log_session", "").startswith("icess")
    assert {e["source"] for e in s["timeline"]} == {"wire", "log"}
    if not cell.stock:  # pjnath ran checks: its level-5 dumps share transaction IDs with the wire
        assert s["clock"] == "aligned by a STUN transaction"
        assert s["matched_by"] == "ufrags"


@pytest.mark.parametrize("flavour", ["stock", "patched"])
async def test_media_to_the_nominated_pair_on_the_wire(
    cell: WireCell, jingle_clients: ClientFactory
) -> None:
    """Patch 0010's cell (test_jingle_cells.py): the client nominates its lower-priority host
    candidate; stock Asterisk sends media to the higher one, patched to the nominated one."""
    client = await jingle_clients("alice", "plain", host_candidates=2, nominate_host=1)
    with cell.capture("nominated.pcap") as pcap:
        call = await client.call(cell.ast.jid)
        await asyncio.wait_for(call.accepted.wait(), 10)
        assert await call.wait_ice(10), call.ice_error
        await call.send_media(100)
        await asyncio.sleep(0.5)
        await call.hangup()
    keep([pcap], f"rig-{cell.flavour}")
    doc = analyze(pcap, None)
    wire = doc["wire"]
    (s,) = wire["sessions"]
    assert s["nominated"], s
    assert wire["rtp"] > 100
    sigs = set(wire["signatures"])
    if cell.stock:
        assert "wire-media-not-to-nominated" in sigs, s
    else:
        assert "wire-media-not-to-nominated" not in sigs, s
