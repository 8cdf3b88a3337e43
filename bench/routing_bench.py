"""Routing benchmark: the same SIPp load routed by (a) a plain dialplan Dial() and (b) callctl.

    .venv/bin/python bench/routing_bench.py [--rate 20] [--duration 10]
        [--rates 50,100,150,200,250,300] [--step 10] [--hold 200] [--p99-limit 500]
        [--dispatch dialplan|bridge] [--out FILE]

One sandbox Asterisk on 127.0.0.1, one SIPp carrier on 127.0.0.3 answering at once, two SIPp
callers: 127.0.0.5 lands in a context that runs `Dial(PJSIP/+${EXTEN}@carrier)`, 127.0.0.2 in
from-jingle, i.e. Stasis -> `callctl run --dispatch D` (a separate process) -> the same dial
string (D = dialplan: the controller decides, Dial() in the dialplan connects; bridge: the
controller places the leg and bridges it over ARI).
Both paths alternate at every load step so background noise hits them alike.

- set-up time: INVITE -> 200 at the caller, per call (SIPp's message trace), at --rate for
  --duration s; median and p99, and callctl's difference and ratio to the dialplan;
- max CPS: for each of --rates, --step s of calls (1 s long); the highest rate with zero
  failed calls and a p99 set-up time under --p99-limit (500 ms), for each path;
- memory: callctl's RSS idle and with --hold calls up at once; per active call.
Targets (issue 5): +5 ms median, +20 ms p99, >= 90 % of the dialplan's max CPS.
The sandbox has CDR and CEL off and no AMI event consumer; its `full` log is on for both.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, patched_build

sys.path[:0] = [str(REPO / "tests")]

from callctl.daemon.handoff import DISPATCH_MODES  # noqa: E402
from callctl.sandbox import manager  # noqa: E402
from callctl.sandbox.manager import free_port  # noqa: E402
from support.daemon_proc import DaemonProcess  # noqa: E402
from support.daemon_rig import ROUTING, scenario, uac  # noqa: E402
from support.sipp import Sipp  # noqa: E402

JINGLE_IP, PLAIN_IP, CARRIER_IP = "127.0.0.2", "127.0.0.5", "127.0.0.3"
NUMBER = "15551230000"
PLAIN = """
[bench-dial]
exten => _X.,1,Dial(PJSIP/+${EXTEN}@carrier,15)
 same => n,Hangup()
"""


def routing_config(workdir: Path) -> Path:
    text = ROUTING.replace("RING", "15").replace(
        "max_concurrent_calls: 50", "max_concurrent_calls: 1000"
    )
    text = text.replace("primary: carrier-a\n  fallbacks: [carrier-b]", "primary: carrier")
    path = workdir / "routing.yaml"
    path.write_text(text)
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def setup_times(workdir: Path) -> list[float]:
    """Per-call INVITE sent -> 200 received (ms, microsecond resolution) from SIPp's message
    trace: `-trace_rtt` only has whole milliseconds, too coarse for a few-ms difference."""
    sent: dict[str, float] = {}
    out: list[float] = []
    for path in workdir.glob("*_messages.log"):
        blocks = path.read_text(errors="replace").split("-" * 47 + " ")
        for block in blocks[1:]:
            head, _, body = block.partition("\n")
            day, clock = head.split()[:2]  # "2026-11-23 01:06:33.562541", local time
            stamp = time.mktime(time.strptime(f"{day} {clock[:8]}", "%Y-%m-%d %H:%M:%S")) + float(
                clock[8:]
            )
            lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
            if len(lines) < 2:
                continue
            first = lines[1]
            call_id = next(
                (ln[8:].strip() for ln in lines if ln.lower().startswith("call-id:")), None
            )
            cseq = next((ln for ln in lines if ln.lower().startswith("cseq:")), "")
            if call_id is None:
                continue
            if lines[0].startswith("UDP message sent") and first.startswith("INVITE "):
                sent.setdefault(call_id, stamp)
            elif (
                lines[0].startswith("UDP message received")
                and first.startswith("SIP/2.0 200")
                and cseq.upper().endswith("INVITE")
                and call_id in sent
            ):
                out.append((stamp - sent.pop(call_id)) * 1000)
    return out


def rtts(workdir: Path) -> list[float]:
    """Per-call INVITE -> 200 times (ms) from SIPp's rtt file(s)."""
    out: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[0][:1].isdigit():
                    out.append(float(row[1]))
    return out


def run_callers(
    ip: str,
    sb: manager.Sandbox,
    workdir: Path,
    rate: float,
    calls: int,
    pause_ms: int,
    precise: bool = False,
) -> tuple[int, int, list[float]]:
    trace = ["-trace_msg"] if precise else ["-trace_rtt", "-rtt_freq", "1"]
    sipp = uac(
        ip,
        workdir,
        sb.sip_port,
        NUMBER,
        calls=calls,
        pause_ms=pause_ms,
        rate=rate,
        timeout_s=int(calls / rate + 60),
        extra=[*trace, "-l", str(int(rate * 3 + 50))],
    )
    result = sipp.start().wait()
    return result.successful, result.failed, setup_times(workdir) if precise else rtts(workdir)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def active_calls(daemon: DaemonProcess) -> int:
    doc = daemon.health(timeout=2)
    assert doc is not None, "callctl run did not answer /health:\n" + daemon.log_tail()
    return int(str(doc["active_calls"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rates", default="50,100,150,200,250,300")
    ap.add_argument("--step", type=float, default=10.0)
    ap.add_argument("--hold", type=int, default=200)
    ap.add_argument("--p99-limit", type=float, default=500.0, metavar="MS")
    ap.add_argument("--dispatch", choices=DISPATCH_MODES, default=DISPATCH_MODES[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    os.environ.setdefault("CALLCTL_STATE", f"/tmp/crb{os.getpid()}")
    work = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    result = patched_build()
    carrier_port = free_port(CARRIER_IP, socket.SOCK_DGRAM)
    sb = manager.up(
        result,
        manager.SandboxOptions(
            name="rbench",
            rtp_start=20000,
            rtp_end=40000,  # 2 RTP ports per leg, many calls
            trunks=[{"name": "carrier", "host": CARRIER_IP, "port": carrier_port}],
            phones=[
                {
                    "name": "jingle",
                    "host": JINGLE_IP,
                    "context": "from-jingle",
                    "callerid": '"alice@example.org/phone" <alice>',
                },
                {"name": "plain", "host": PLAIN_IP, "context": "bench-dial"},
            ],
            dialplan_extra={"bench-dial.conf": PLAIN},
        ),
    )
    daemon = DaemonProcess(
        "rbench", work / "daemon", routing_config(work), extra=["--dispatch", args.dispatch]
    )
    carrier = Sipp(
        scenario(work, "uas_ring_answer.xml"),
        CARRIER_IP,
        carrier_port,
        work / "carrier",
        calls=10_000_000,
        timeout_s=3600,
        extra=["-l", "5000"],
    )
    report: dict[str, object] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "dispatch": args.dispatch,
        "asterisk": sb.state.asterisk_version,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        carrier.start()
        daemon.start().wait_ready()
        idle = rss_kib(daemon.pid)
        paths_ = {"dialplan": PLAIN_IP, "callctl": JINGLE_IP}

        # 1. set-up latency at a steady rate
        latency: dict[str, dict[str, float]] = {}
        calls = int(args.rate * args.duration)
        for name, ip in paths_.items():
            cpu0 = (cpu_s(sb.pid), cpu_s(daemon.pid))
            ok, failed, times = run_callers(
                ip, sb, work / f"lat-{name}", args.rate, calls, 1000, precise=True
            )
            cpu1 = (cpu_s(sb.pid), cpu_s(daemon.pid))
            latency[name] = {
                "calls": ok,
                "failed": failed,
                "asterisk_cpu_ms_per_call": (cpu1[0] - cpu0[0]) * 1000 / max(ok, 1),
                "callctl_cpu_ms_per_call": (cpu1[1] - cpu0[1]) * 1000 / max(ok, 1),
                "median_ms": statistics.median(times) if times else float("nan"),
                "p99_ms": percentile(times, 0.99) if times else float("nan"),
            }
            print(
                f"latency {name:9} {ok} ok {failed} failed  median "
                f"{latency[name]['median_ms']:.2f} ms  p99 {latency[name]['p99_ms']:.2f} ms  "
                f"CPU per call: Asterisk {latency[name]['asterisk_cpu_ms_per_call']:.2f} ms, "
                f"callctl {latency[name]['callctl_cpu_ms_per_call']:.2f} ms",
                flush=True,
            )
        d, c = latency["dialplan"], latency["callctl"]
        latency["added"] = {
            "median_ms": c["median_ms"] - d["median_ms"],
            "p99_ms": c["p99_ms"] - d["p99_ms"],
            "median_ratio": c["median_ms"] / d["median_ms"],
            "p99_ratio": c["p99_ms"] / d["p99_ms"],
        }
        report["latency"] = latency

        # 2. max CPS with zero failures, both paths at each step
        steps: list[dict[str, object]] = []
        best = {"dialplan": 0.0, "callctl": 0.0}
        alive = {"dialplan": True, "callctl": True}
        for rate in (float(r) for r in args.rates.split(",") if r.strip()):
            for name, ip in paths_.items():
                if not alive[name]:
                    continue
                ok, failed, times = run_callers(
                    ip, sb, work / f"cps-{name}-{rate:g}", rate, int(rate * args.step), 1000
                )
                med = statistics.median(times) if times else float("nan")
                p99 = percentile(times, 0.99) if times else float("nan")
                steps.append(
                    {
                        "path": name,
                        "rate": rate,
                        "ok": ok,
                        "failed": failed,
                        "median_ms": med,
                        "p99_ms": p99,
                    }
                )
                print(
                    f"cps {rate:6g} {name:9} {ok} ok {failed} failed  median {med:.2f} ms  "
                    f"p99 {p99:.2f} ms",
                    flush=True,
                )
                # SIPp counts a call that took seconds to set up as a success: a step passes
                # only with no failure AND a p99 set-up time under --p99-limit.
                if failed == 0 and ok == int(rate * args.step) and p99 < args.p99_limit:
                    best[name] = rate
                else:
                    alive[name] = False
            time.sleep(2)  # let both sides settle between steps
        report["cps_steps"] = steps
        report["max_cps"] = {
            **best,
            "ratio": best["callctl"] / best["dialplan"] if best["dialplan"] else None,
        }

        # 3. memory per active call: hold --hold calls up at once
        hold_rate = 100.0
        pause = int(args.hold / hold_rate * 1000 + 4000)
        holder = uac(
            JINGLE_IP,
            work / "hold",
            sb.sip_port,
            NUMBER,
            calls=args.hold,
            pause_ms=pause,
            rate=hold_rate,
            timeout_s=120,
            extra=["-l", str(args.hold + 10)],
        )
        time.sleep(3)
        base_rss = rss_kib(daemon.pid)
        base_calls = active_calls(daemon)  # left by a saturated step
        holder.start()
        peak, active = base_rss, base_calls
        deadline = time.monotonic() + args.hold / hold_rate + 3
        while time.monotonic() < deadline:
            n = active_calls(daemon)
            rss = rss_kib(daemon.pid)
            if n >= active:
                active, peak = n, max(peak, rss)
            time.sleep(0.2)
        holder.wait()
        held = active - base_calls
        per_call = (peak - base_rss) / held if held > 0 else None
        report["memory"] = {
            "idle_kib": idle,
            "before_kib": base_rss,
            "calls_before": base_calls,
            "peak_kib": peak,
            "active_calls": active,
            "per_call_kib": per_call,
        }
        print(
            f"memory idle {idle} KiB, before {base_rss} KiB with {base_calls} calls, "
            f"{active} calls up: {peak} KiB, "
            f"{per_call} KiB per call",
            flush=True,
        )
    finally:
        carrier.stop()
        daemon.stop()
        manager.down("rbench")
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    out = args.out or REPO / "bench" / "results" / f"routing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out}; work files in {work}")
    if os.environ.get("BENCH_CLEAN"):
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
