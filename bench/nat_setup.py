"""Answer to audio both ways through each NAT kind, patched build (issue 18, item 4).

    .venv/bin/python bench/nat_setup.py [--calls 20] [--out FILE]

The NAT rig outside pytest (tests/support/nat): prosody on loopback, a router namespace with
the NAT kind's nftables ruleset and a client namespace behind it, coturn on the public side
(STUN, TURN over UDP and TCP, REST credentials), the patched sandbox Asterisk
(specs/default.yaml) answering at once with Echo(). The emulated `plain` client calls
Asterisk `--calls` times per kind; it gathers host, srflx and relay candidates (behind the
UDP-blocking firewall: host and relay over TCP). Per call, from the client's monotonic clock:

- ice:   session-accept received -> the client's ICE completed
- audio: session-accept received -> the first echoed PCMU packet back at the client (its
         audio reached Asterisk and Asterisk's came back: audio both ways), media sent from
         the moment ICE completed

Median and p99 (nearest rank; with 20 calls p99 is the slowest) per kind, and the pair each
side won. Target: audio median and p99 under 500 ms on loopback, TURN included. Everything
started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, patched_build, result_head, summary

sys.path[:0] = [str(REPO / "tests")]

from callctl.icelog.cli import analyze_stream  # noqa: E402
from callctl.sandbox import manager  # noqa: E402
from support.jingle import asterisk_conf, observe  # noqa: E402
from support.jingle.cells import place  # noqa: E402
from support.jingle.client import JingleClient  # noqa: E402
from support.jingle.fixtures import rig_client, rig_sandbox, started_prosody  # noqa: E402
from support.jingle.prosody import Prosody  # noqa: E402
from support.nat import pairs, topology  # noqa: E402
from support.nat.coturn import Coturn, coturn  # noqa: E402
from support.nat.fixtures import ice_servers  # noqa: E402
from support.nat.ice import connection_factory  # noqa: E402

KINDS = [("port-restricted", "udp"), ("symmetric", "udp"), ("udp-blocked", "tcp")]
ICE_TIMEOUT = 10.0
AUDIO_TIMEOUT = 5.0
POLL = 0.002


async def one_call(
    client: JingleClient, ast: asterisk_conf.AsteriskJingle, log: Path
) -> dict[str, Any]:
    tail = observe.LogTail(log)
    call = await place(client, ast, timeout=10)
    row: dict[str, Any] = {"ok": False}
    sender: asyncio.Task[int] | None = None
    try:
        if not call.accepted.is_set() or call.accepted_at is None:
            return row
        if not await call.wait_ice(ICE_TIMEOUT) or call.ice_completed_at is None:
            row["error"] = call.ice_error or "ICE timeout"
            return row
        signalled = {f"{c.host}:{c.port}": c.type for c in call.ice.local_candidates}
        row["client_pair"] = pairs.client_pair(call.ice.nominated_pairs())
        sender = asyncio.ensure_future(call.send_media(int(AUDIO_TIMEOUT / 0.02)))
        deadline = time.monotonic() + AUDIO_TIMEOUT
        while call.first_media_at is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        if call.first_media_at is None:
            row["error"] = "no echo"
            return row
        row.update(
            ok=True,
            ice=(call.ice_completed_at - call.accepted_at) * 1000,
            audio=(call.first_media_at - call.accepted_at) * 1000,
        )
    finally:
        if sender is not None:
            sender.cancel()
        await call.hangup()
        await asyncio.sleep(0.5)  # Asterisk tears the call down, and logs it
        report = analyze_stream(io.BytesIO(tail.read().encode())).report()
        if row["ok"]:
            row["asterisk_pair"] = pairs.asterisk_pair(report, signalled)
    return row


async def phase(
    net: topology.NatNet,
    server: Coturn,
    prosody: Prosody,
    sandbox: manager.Sandbox,
    ast: asterisk_conf.AsteriskJingle,
    kind: str,
    transport: str,
    calls: int,
) -> dict[str, Any]:
    net.set_kind(kind)
    servers = ice_servers(server, "alice", stun=True, turn=transport)
    factory = connection_factory(servers, net.client_socket)
    client = rig_client(
        prosody,
        "alice",
        "plain",
        f"bench-{kind}",
        net.lan.udp_socket,
        net.reachable,
        ice_factory=factory,
    )
    await client.start()
    try:
        log = Path(sandbox.log_dir) / "full"
        rows = [await one_call(client, ast, log) for _ in range(calls)]
    finally:
        await client.stop()
    good = [r for r in rows if r["ok"]]
    won = sorted({f"client {r['client_pair']}, asterisk {r['asterisk_pair']}" for r in good})
    return {
        "kind": kind,
        "turn_transport": transport,
        "calls": calls,
        "failed": len(rows) - len(good),
        "pairs": won,
        "ice": summary([r["ice"] for r in good]),
        "accept_to_audio_both_ways": summary([r["audio"] for r in good]),
        "raw_ms": [{"ice": round(r["ice"], 1), "audio": round(r["audio"], 1)} for r in good],
        "failures": [r.get("error", "") for r in rows if not r["ok"]],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result = patched_build()
    phases = []
    with (
        started_prosody() as (prosody, _),
        topology.nat_network() as net,
        coturn(net.wan) as server,
    ):
        rig = rig_sandbox(result, net.wan, prosody, "natbench", answer_delay=0.0, debug=5)
        async with rig as (sandbox, ast):
            for kind, transport in KINDS:
                calls = args.calls
                phases.append(
                    await phase(net, server, prosody, sandbox, ast, kind, transport, calls)
                )
    return {
        **result_head("nat_setup", args.load_before),
        "build": result.key,
        "client": "emulated plain (tests/support/jingle), STUN + TURN from coturn",
        "target": "accept_to_audio_both_ways median and p99 < 500 ms (loopback)",
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "nat-setup.json")
    args = parser.parse_args(argv)
    args.load_before = list(os.getloadavg())
    doc = asyncio.run(run(args))
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for p in doc["phases"]:
        audio = p["accept_to_audio_both_ways"]
        print(
            f"{p['kind']:16} turn/{p['turn_transport']}: {p['calls'] - p['failed']}/{p['calls']} "
            f"audio median {audio.get('median_ms')} ms p99 {audio.get('p99_ms')} ms; {p['pairs']}"
        )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
