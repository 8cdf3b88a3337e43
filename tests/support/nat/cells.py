"""One call through the NAT: the Jingle rig's cell (`jingle.cells.run_cell`: the client's ICE,
Asterisk's pjnath verdict, the echo) plus what `callctl ice analyze` says about the call's
log and which pair won on each side."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callctl.icelog.cli import analyze_stream

from support.jingle import observe
from support.jingle.asterisk_conf import AsteriskJingle
from support.jingle.cells import CellResult, run_cell
from support.jingle.client import Call, JingleClient

from . import pairs
from .topology import NatNet

RING_VAR = "NATRIG_RING"  # the rig dialplan rings Wait(${NATRIG_RING}): a global, set per call
SETUP_SLACK = 20.0  # s past the ring for the answer to arrive
RING_EXPR = "${" + RING_VAR + "}"  # a channel variable falls back to the global


@dataclass
class NatCell:
    kind: str
    ring: float
    cell: CellResult
    signatures: list[str] = field(default_factory=list)  # callctl ice analyze, this call
    client_pair: str | None = None  # local/remote candidate types, e.g. "host/host"
    asterisk_pair: str | None = None
    client_candidates: list[str] = field(default_factory=list)  # types the client signalled
    asterisk_signalled: list[str] = field(default_factory=list)  # "ip type" Asterisk signalled

    @property
    def passed(self) -> bool:
        return self.cell.passed

    def why(self) -> str:
        return (
            f"[{self.kind} ring={self.ring:g}] {self.cell.why()} analyzer={self.signatures} "
            f"pairs client={self.client_pair} asterisk={self.asterisk_pair} "
            f"client_candidates={self.client_candidates} "
            f"asterisk_signalled={self.asterisk_signalled}"
        )

    @property
    def key(self) -> str:
        """The cell's row in the results file."""
        gathered = "+".join(self.client_candidates) or "none"
        return f"{self.kind}/{gathered}/{self.cell.profile}/{self.cell.direction}/ring{self.ring:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "profile": self.cell.profile,
            "direction": self.cell.direction,
            "ring": self.ring,
            "passed": self.passed,
            "asterisk_ice": self.cell.asterisk_ice,
            "client_ice": self.cell.client_ice,
            "rtp": [self.cell.received, self.cell.sent],
            "analyzer": self.signatures,
            "client_pair": self.client_pair,
            "asterisk_pair": self.asterisk_pair,
            "client_candidates": self.client_candidates,
        }


async def run_nat_cell(
    net: NatNet,
    kind: str,
    client: JingleClient,
    sandbox: Any,
    ast: AsteriskJingle,
    direction: str,
    ring: float,
) -> NatCell:
    """Set the NAT kind and the ring, run one call, and read its log with the analyzer.
    For "out" the dialplan rings `ring` s (the sandbox needs `answer_delay=RING_EXPR`); for
    "in" the client does."""
    net.set_kind(kind)
    await asyncio.to_thread(sandbox.rx, f"dialplan set global {RING_VAR} {ring:g}")
    tail = observe.LogTail(Path(sandbox.log_dir) / "full")
    seen = _Snapshot(client)
    watcher = asyncio.ensure_future(seen.watch())
    try:
        cell = await run_cell(
            client, sandbox, ast, direction, ring=ring, setup_timeout=ring + SETUP_SLACK
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    log = tail.read()
    result = NatCell(kind, ring, cell)
    report = analyze_stream(io.BytesIO(log.encode())).report()
    result.signatures = sorted(report["signatures"])
    result.client_candidates = sorted(set(seen.signalled.values()))
    result.client_pair = seen.pair
    result.asterisk_pair = pairs.asterisk_pair(report, seen.signalled)
    if seen.call is not None:
        result.asterisk_signalled = sorted(
            {
                f"{cand.ip} {cand.type}"
                for record in seen.call.records
                if record.direction == "in"
                for content in record.jingle.contents
                if content.transport is not None
                for cand in content.transport.candidates
            }
        )
    return result


class _Snapshot:
    """The new call's candidates and won pair, read while the call is up (aioice forgets both
    when the call closes)."""

    def __init__(self, client: JingleClient) -> None:
        self.client = client
        self.before = set(client.calls)
        self.signalled: dict[str, str] = {}  # "ip:port" -> candidate type
        self.pair: str | None = None
        self.call: Call | None = None

    async def watch(self) -> None:
        while not (new := [c for s, c in self.client.calls.items() if s not in self.before]):
            await asyncio.sleep(0.01)
        call = self.call = new[-1]
        self.signalled = {f"{c.host}:{c.port}": c.type for c in call.ice.local_candidates}
        await call.ice_done.wait()
        self.pair = pairs.client_pair(call.ice.nominated_pairs())


class Recorded(Protocol):
    key: str

    def to_dict(self) -> dict[str, Any]: ...


def record(request: Any, flavour: str, cells: Sequence[Recorded]) -> Path:
    """Merge `cells` into the NAT results file (`$CALLCTL_NAT_OUT`, else nat-matrix.json in
    pytest's basetemp), one column per build: what README's NAT rows are rendered from."""
    out = os.environ.get("CALLCTL_NAT_OUT")
    path = (
        Path(out)
        if out
        else Path(request.config._tmp_path_factory.getbasetemp()) / ("nat-matrix.json")
    )
    data = json.loads(path.read_text()) if path.exists() else {}
    column = data.setdefault(flavour, {})
    for cell in cells:
        column[cell.key] = cell.to_dict()
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
