"""Stage times of `callctl probe` against the embedded gateway (`sandbox up --jingle` plus
`callctl run` with the component), as `bash bootstrap.sh up` runs them.

    .venv/bin/python bench/probe_stages.py [--calls 20] [--out bench/results/probe-stages.json]

Starts a throw-away Jingle sandbox from the cached patched build (built first if needed) and
the routing daemon, runs the probe CLI `--calls` times each with DTLS + JMI (what the
gateway advertises, as Conversations calls) and with neither (as Gajim calls), debug logging
off (`--no-debug`: toggling it is measured by bench/debug_toggle.py), and reports per event
the median and p90 in milliseconds from the start of the probe, with the load average.
Whole CLI runs: interpreter start and imports come before the probe's clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from callctl import paths  # noqa: E402
from callctl.build.builder import build  # noqa: E402
from callctl.build.cache import Cache  # noqa: E402
from callctl.build.spec import load_spec  # noqa: E402
from callctl.sandbox import manager  # noqa: E402
from callctl.sandbox.jingle import JingleOptions  # noqa: E402

MODES = {"dtls+jmi": [], "plain": ["--dtls", "off", "--jmi", "off"]}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "probe-stages.json")
    args = ap.parse_args()
    result = build(load_spec(paths.default_spec()), Cache(paths.cache_dir()), lambda _m: None)
    name = f"bp{secrets.token_hex(3)}"
    sb = manager.up(result, manager.SandboxOptions(name=name, jingle_demo=JingleOptions()))
    daemon = None
    log = Path(sb.root) / "bench-daemon.log"
    try:
        j = sb.state.jingle
        assert j is not None
        env = {**os.environ, "CALLCTL_XMPP_SECRET": Path(j["component_secret_file"]).read_text()}
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [
                    *(sys.executable, "-m", "callctl", "run", "--sandbox", name),
                    *("--config", j["routing_config"], "--xmpp-component", j["component"]),
                    *("--listen", "127.0.0.1:0", "--no-debug-watch"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while "registered=True" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit(f"daemon not ready:\n{log.read_text()}")
            time.sleep(0.2)
        load_before = os.getloadavg()
        report: dict[str, Any] = {"calls": args.calls, "load_before": load_before, "modes": {}}
        for mode, flags in MODES.items():
            times: dict[str, list[float]] = {}
            failed = 0
            for _ in range(args.calls):
                proc = subprocess.run(
                    [
                        *(sys.executable, "-m", "callctl", "probe", "--sandbox", name),
                        *("--client", "builtin"),  # the figures are the builtin client's
                        *("--no-debug", *flags, "--json"),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                doc = json.loads(proc.stdout)
                failed += not doc["passed"]
                for e in doc["events"]:
                    if e["seconds"] is not None:
                        times.setdefault(e["event"], []).append(e["seconds"] * 1000)
            report["modes"][mode] = {
                "failed": failed,
                "events_ms": {
                    ev: {
                        "n": len(v),
                        "median": round(statistics.median(v), 1),
                        "p90": round(pct(v, 90), 1),
                    }
                    for ev, v in times.items()
                },
            }
        report["load_after"] = os.getloadavg()
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(30)
        sb.stop()


if __name__ == "__main__":
    raise SystemExit(main())
