"""Call set-up time of a real browser through the patched build (issue 12, item 7).

    .venv/bin/python bench/webrtc_setup.py [--browser chromium] [--calls 20]
        [--long-calls 5] [--ring 60] [--out FILE]

The Jingle rig outside pytest: prosody on loopback (mod_websocket), a rig namespace, the
patched sandbox Asterisk (specs/default.yaml) whose chan_motif endpoint answers with Echo(),
and one headless browser running the StanzaJS page in the namespace (tests/support/webrtc).
The browser calls Asterisk `--calls` times answered at once, then `--long-calls` times answered
after `--ring` s of ringing (fewer: each costs the ring). Per call, from the page's clock
(performance.now(), ms):

- ice:   session-accept received -> iceConnectionState connected
- dtls:  ICE connected -> the DTLS transport connected (handshake; SRTP keys from it)
- audio: session-accept received -> the first audio frame decrypted at the browser (Chromium's
         encoded streams see each frame after SRTP; the page's `timing` option)

Median and p99 (nearest rank; with 20 calls p99 is the slowest) per phase. Target: audio
median under 300 ms on loopback. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, patched_build, result_head, summary

sys.path[:0] = [str(REPO / "tests")]

from callctl.sandbox import manager  # noqa: E402
from support.jingle import asterisk_conf, netns  # noqa: E402
from support.jingle.fixtures import rig_sandbox, started_prosody  # noqa: E402
from support.webrtc.browser import BrowserClient  # noqa: E402
from support.webrtc.fixtures import WS_PATH  # noqa: E402
from support.webrtc.relay import tcp_relay  # noqa: E402

CALL_TIMEOUT = 15.0  # after the answer, for the first audio
POLL = 0.05
# Ringing() then Wait(${RING}) then Answer(): RING is a global the bench sets per phase.
DIALPLAN = f"""[globals]
RING=0

[{asterisk_conf.CONTEXT}]
exten => s,1,Ringing()
 same => n,Wait(${{RING}})
 same => n,Answer()
 same => n,Echo()
 same => n,Hangup()
"""


async def one_call(browser: BrowserClient, jid: str, ring: float) -> dict[str, Any]:
    await browser.rpc("call", jid)
    deadline = time.monotonic() + ring + CALL_TIMEOUT + 5
    marks: dict[str, float] = {}
    while time.monotonic() < deadline:
        report = await browser.rpc("report")
        marks = report["marks"]
        if "firstAudio" in marks or any(e["what"] == "terminated" for e in report["events"]):
            break
        await asyncio.sleep(POLL)
    await browser.rpc("hangup")
    await asyncio.sleep(0.5)  # Asterisk tears the call down before the next one
    if not {"accept", "ice", "dtls", "firstAudio"} <= set(marks):
        return {"ok": False, "marks": {k: round(v, 1) for k, v in marks.items()}}
    return {
        "ok": True,
        "ice": marks["ice"] - marks["accept"],
        "dtls": marks["dtls"] - marks["ice"],
        "audio": marks["firstAudio"] - marks["accept"],
    }


async def phase(
    browser: BrowserClient, sandbox: manager.Sandbox, jid: str, ring: float, calls: int
) -> dict[str, Any]:
    await asyncio.to_thread(sandbox.rx, f"dialplan set global RING {ring:g}")
    rows = [await one_call(browser, jid, ring) for _ in range(calls)]
    good = [r for r in rows if r["ok"]]
    return {
        "ring_s": ring,
        "calls": calls,
        "failed": len(rows) - len(good),
        "ice": summary([r["ice"] for r in good]),
        "dtls": summary([r["dtls"] for r in good]),
        "accept_to_first_audio": summary([r["audio"] for r in good]),
        "raw_ms": [{k: round(v, 1) for k, v in r.items() if k != "ok"} for r in good],
        "failures": [r["marks"] for r in rows if not r["ok"]],  # page marks of failed calls
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result = patched_build()
    with started_prosody() as (prosody, _), netns.rig_network() as net:
        async with (
            rig_sandbox(result, net, prosody, "webrtcb", extensions=DIALPLAN) as (sandbox, ast),
            tcp_relay(net.host_addr, ("127.0.0.1", prosody.http_port)) as port,
        ):
            browser = BrowserClient(
                args.browser,
                net.name,
                f"alice@{prosody.domain}/bench-{args.browser}",
                "pw-alice",
                f"ws://{net.host_addr}:{port}{WS_PATH}",
                timing=True,
            )
            try:
                await browser.start()
                phases = [await phase(browser, sandbox, ast.jid, 0, args.calls)]
                if args.long_calls:
                    phases.append(
                        await phase(browser, sandbox, ast.jid, args.ring, args.long_calls)
                    )
                version = browser.version
            finally:
                await browser.close()
    return {
        **result_head("webrtc_setup", args.load_before),
        "build": result.key,
        "browser": version,
        "target": "accept_to_first_audio median < 300 ms (loopback)",
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", choices=("chromium",), default="chromium")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--long-calls", type=int, default=5)
    parser.add_argument("--ring", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.load_before = list(os.getloadavg())
    doc = asyncio.run(run(args))
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    for p in doc["phases"]:
        print(
            f"{doc['browser']} ring {p['ring_s']:g} s, {p['calls']} calls "
            f"({p['failed']} failed): ICE {p['ice']}, DTLS {p['dtls']}, "
            f"accept->first audio {p['accept_to_first_audio']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
