"""Chaos soak (issue 19): calls through the fast path while the daemon and Asterisk are hurt.

    .venv/bin/python bench/chaos_soak.py [--rate 30] [--hold 5] [--baseline 60] [--gap 40]
        [--faults kill,stall,drop,asterisk] [--give-up 20] [--bound 15] [--settle 15]
        [--out FILE] [--keep]

One sandbox Asterisk on 127.0.0.1, `callctl run` (its own process, fast path), SIPp carriers
on 127.0.0.3 (carrier-a, and carrier-b for failover) answering at once, one SIPp caller on
127.0.0.2 (context from-jingle) at --rate calls/s, each call --hold s long, for
--baseline + len(faults) x --gap seconds. The faults, --gap s apart after the baseline:

- kill:     the daemon SIGKILLed, started again 3 s later;
- stall:    the daemon SIGSTOPped for 5 s, then SIGCONT;
- drop:     its ARI (WebSocket and REST) and AMI connections aborted (`ss -K`: root, loopback);
- asterisk: Asterisk restarted (`core stop now`, start, wait until ARI and AMI answer).

Per phase (a call belongs to the phase its INVITE was sent in): attempted, answered, failed
with SIP codes, stuck (reached Asterisk, no final answer within --bound s of its INVITE or of
the fault's end), given up (no final answer before the caller's --give-up), lost (never reached
Asterisk: it was down); per fault: seconds until /health is ready again and until a call placed
after the fault is answered. After the run: what is left (channels, bridges, the daemon's calls)
once --settle s have passed. Targets (issue 19): 0 calls stuck after any fault; the stall phase
fails no more calls than arrived during the stall; 0 leftovers.
Every outcome comes from SIPp's message trace (tests/support/sipp_trace.py), every daemon
figure from its HTTP API: the daemon is a black box here. Everything started is stopped at
the end, whatever happens; the work folder (traces, logs) is removed unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import REPO, patched_build

sys.path[:0] = [str(REPO / "tests")]

from callctl.sandbox import manager  # noqa: E402
from callctl.sandbox.manager import free_port  # noqa: E402
from support.daemon_proc import DaemonProcess, metric_sum  # noqa: E402
from support.daemon_rig import (  # noqa: E402
    CALLER_IP,
    CALLER_JID,
    CARRIER_IP,
    ROUTING,
    scenario,
    uac,
)
from support.sipp import Sipp  # noqa: E402
from support.sipp_trace import CallRecord, read_calls  # noqa: E402

SANDBOX = "chaos"
NUMBER = "5551230000"
FAULTS = ("kill", "stall", "drop", "asterisk")
KILL_DOWN_S = 3.0
STALL_S = 5.0


@dataclass
class Fault:
    name: str  # one of FAULTS
    start: float  # epoch s
    phase: str = ""  # its phase's name: the fault's, numbered when it is injected more than once
    end: float = 0.0  # when the fault itself is over (restarted, resumed, Asterisk back)
    detail: dict[str, Any] = field(default_factory=dict)


class HealthWatch(threading.Thread):
    """/health ten times a second, for the time until ready after each fault."""

    def __init__(self, daemon: DaemonProcess) -> None:
        super().__init__(daemon=True)
        self.daemon_proc = daemon
        self.samples: list[tuple[float, bool, int | None]] = []  # time, ready, active calls
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            doc = self.daemon_proc.health(timeout=0.5) or {}
            active = doc.get("active_calls")
            self.samples.append(
                (time.time(), bool(doc.get("ready")), active if isinstance(active, int) else None)
            )

    def ready_after(self, fault: Fault, until: float) -> tuple[float, int | None] | None:
        """When /health is ready again after the fault made it unready: seconds from the
        fault's start (0.0 when it never looked unready) and the active calls it then
        reported; None when it was not ready again before `until`."""
        window = [s for s in self.samples if fault.start <= s[0] < until]
        down = next((t for t, ok, _ in window if not ok), None)
        if down is None:
            return (0.0, window[0][2]) if window else None
        back = next((s for s in window if s[1] and s[0] > max(down, fault.end)), None)
        return None if back is None else (back[0] - fault.start, back[2])


# -- analysis (pure) -------------------------------------------------------------------------


def phase_names(faults: list[str]) -> list[str]:
    """A phase per fault, named after it (`drop-1`, `drop-2` when a fault repeats)."""
    total, seen = Counter(faults), Counter[str]()
    names = []
    for name in faults:
        seen[name] += 1
        names.append(name if total[name] == 1 else f"{name}-{seen[name]}")
    return names


def phase_of(call: CallRecord, bounds: list[tuple[str, float, float]]) -> str:
    return next((name for name, a, b in bounds if a <= call.invited < b), bounds[-1][0])


def summarise(
    calls: list[CallRecord],
    bounds: list[tuple[str, float, float]],
    faults: dict[str, Fault],
    bound: float,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, start, _end in bounds:
        mine = [c for c in calls if phase_of(c, bounds) == name]
        fault = faults.get(name)
        settled = fault.end if fault else start

        def waited(c: CallRecord, settled: float = settled) -> float:
            # from its INVITE, or from the fault's end for a call that arrived during it
            return (c.decided or c.gave_up or c.invited) - max(c.invited, settled)

        stuck = [c for c in mine if c.reached and (c.decided is None or waited(c) > bound)]
        codes = Counter(str(c.code) for c in mine if c.failed)
        during = [c for c in mine if fault and fault.start <= c.invited < fault.end]
        answered_after = [c.decided - start for c in mine if c.answered and c.decided]
        decided_waits = [waited(c) for c in mine if c.decided]
        out[name] = {
            "kind": fault.name if fault else "baseline",
            "attempted": len(mine),
            "answered": sum(1 for c in mine if c.answered),
            "failed": sum(1 for c in mine if c.failed),
            "failed_codes": dict(sorted(codes.items())),
            "stuck": len(stuck),
            "gave_up": sum(1 for c in mine if c.gave_up),
            "lost": sum(1 for c in mine if not c.reached),
            "arrived_during_fault": len(during),
            "failed_of_those": sum(1 for c in during if c.failed or c.gave_up),
            "max_decision_s": round(max(decided_waits), 3) if decided_waits else None,
            "first_answer_s": round(min(answered_after), 3) if answered_after else None,
        }
    return out


def targets(
    phases: dict[str, dict[str, Any]], leftovers: dict[str, int]
) -> dict[str, dict[str, Any]]:
    stuck = sum(p["stuck"] for p in phases.values())
    out: dict[str, dict[str, Any]] = {
        "no_call_stuck": {"value": stuck, "met": stuck == 0},
        "no_leftovers": {"value": leftovers, "met": not any(leftovers.values())},
    }
    stalls = [p for p in phases.values() if p["kind"] == "stall"]
    if stalls:
        failed = [s["failed"] + s["gave_up"] for s in stalls]
        arrived = [s["arrived_during_fault"] for s in stalls]
        out["stall_fails_at_most_its_arrivals"] = {
            "value": {"failed": sum(failed), "arrived_during_stall": sum(arrived)},
            "met": all(f <= a for f, a in zip(failed, arrived, strict=True)),
        }
    return out


# -- the run -----------------------------------------------------------------------------------


def asterisk_leftovers(sb: manager.Sandbox) -> tuple[int, int]:
    """Channels and bridges, over the control socket (costs no HTTP session)."""
    chans = [ln for ln in sb.rx("core show channels concise").splitlines() if "!" in ln]
    bridges = [
        ln
        for ln in sb.rx("bridge show all").splitlines()[1:]
        if ln.strip() and "Bridge-ID" not in ln
    ]
    return len(chans), len(bridges)


def inject(name: str, daemon: DaemonProcess, sb: manager.Sandbox, health: HealthWatch) -> Fault:
    fault = Fault(name, time.time())
    if name == "kill":
        daemon.kill()
        time.sleep(KILL_DOWN_S)  # the fault's length, not a wait for anything
        daemon.start()
    elif name == "stall":
        daemon.pause()
        try:
            time.sleep(STALL_S)
        finally:
            daemon.resume()
    elif name == "drop":
        fault.detail["sockets"] = len(daemon.drop_connections([sb.http_port, sb.ami_port]))
    elif name == "asterisk":
        sb.restart()  # returns once ARI and AMI answer again
    else:
        raise ValueError(name)
    fault.end = time.time()
    print(f"fault {name}: {fault.end - fault.start:.2f} s {fault.detail or ''}", flush=True)
    return fault


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=30.0, help="calls/s")
    ap.add_argument("--hold", type=float, default=5.0, help="s each answered call lasts")
    ap.add_argument("--baseline", type=float, default=60.0, help="s before the first fault")
    ap.add_argument("--gap", type=float, default=40.0, help="s between faults")
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--give-up", type=float, default=20.0, help="s a caller waits for an answer")
    ap.add_argument(
        "--bound",
        type=float,
        default=15.0,
        help="s within which a call is decided (the daemon rescues a call after 10 s)",
    )
    ap.add_argument("--settle", type=float, default=15.0, help="s for leftovers to clear")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        ap.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    if "drop" in faults and os.geteuid() != 0:
        ap.error("the drop fault needs root (ss -K)")

    # SIGTERM unwinds like Ctrl-C: the finally below stops everything this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    own_state = "CALLCTL_STATE" not in os.environ  # then a folder of its own, removed at the end
    os.environ.setdefault("CALLCTL_STATE", f"/tmp/ccs{os.getpid()}")
    work = Path(tempfile.mkdtemp(prefix="chaos-soak-"))
    duration = args.baseline + len(faults) * args.gap
    report: dict[str, Any] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "rate": args.rate,
            "hold_s": args.hold,
            "baseline_s": args.baseline,
            "gap_s": args.gap,
            "faults": faults,
            "give_up_s": args.give_up,
            "bound_s": args.bound,
            "settle_s": args.settle,
            "kill_down_s": KILL_DOWN_S,
            "stall_s": STALL_S,
        },
    }
    result = patched_build()
    ports = {n: free_port(CARRIER_IP, socket.SOCK_DGRAM) for n in ("carrier-a", "carrier-b")}
    sb = manager.up(
        result,
        manager.SandboxOptions(
            name=SANDBOX,
            rtp_start=30000,
            rtp_end=40000,  # 2 legs x 2 ports per call, rate x hold calls up
            trunks=[{"name": n, "host": CARRIER_IP, "port": p} for n, p in ports.items()],
            phones=[
                {
                    "name": "jingle",
                    "host": CALLER_IP,
                    "context": "from-jingle",
                    "callerid": f'"{CALLER_JID}" <alice>',
                }
            ],
        ),
    )
    report["asterisk"] = sb.state.asterisk_version
    routing = work / "routing.yaml"
    routing.write_text(
        ROUTING.replace("RING", "15").replace(
            "max_concurrent_calls: 50", "max_concurrent_calls: 1000"
        )
    )
    daemon = DaemonProcess(SANDBOX, work / "daemon", routing)
    carriers = [
        Sipp(
            scenario(work, "uas_ring_answer.xml"),
            CARRIER_IP,
            port,
            work / name,
            calls=10_000_000,
            timeout_s=int(duration + 600),
            extra=["-l", "10000"],
        )
        for name, port in ports.items()
    ]
    calls = int(args.rate * duration)
    caller = uac(
        CALLER_IP,
        work / "caller",
        sb.sip_port,
        NUMBER,
        calls=calls,
        pause_ms=int(args.hold * 1000),
        rate=args.rate,
        timeout_s=int(duration + args.hold + args.give_up + 120),
        extra=[
            "-trace_msg",
            "-recv_timeout",
            str(int(args.give_up * 1000)),
            "-l",
            str(int(args.rate * (args.hold + args.give_up) + 100)),
        ],
    )
    health = HealthWatch(daemon)
    injected: list[Fault] = []
    try:
        for carrier in carriers:
            carrier.start()
        daemon.start()
        daemon.wait_ready(60)
        health.start()
        t0 = time.time()
        caller.start()
        print(f"{calls} calls at {args.rate:g}/s for {duration:g} s; faults {faults}", flush=True)
        for i, name in enumerate(faults):
            at = t0 + args.baseline + i * args.gap
            time.sleep(max(0.0, at - time.time()))  # the schedule, not a synchronisation
            injected.append(inject(name, daemon, sb, health))
        sipp_result = caller.wait(duration + args.hold + args.give_up + 180)
        ended = time.time()
        report["sipp"] = {
            "returncode": sipp_result.returncode,
            "successful": sipp_result.successful,
            "failed": sipp_result.failed,
        }

        # What is left once the callers are done, polled until clean or --settle s.
        left = {"channels": -1, "bridges": -1, "daemon_calls": -1}
        clean_after: float | None = None
        while True:
            chans, bridges = asterisk_leftovers(sb)
            daemon_calls = len(daemon.calls()) if daemon.running() else -1
            left = {"channels": chans, "bridges": bridges, "daemon_calls": daemon_calls}
            if not any(left.values()):
                clean_after = time.time() - ended
                break
            if time.time() - ended > args.settle:
                break
            time.sleep(0.5)
        health.done.set()
        health.join(5)
        samples = daemon.metrics()
        report["leftovers"] = left
        report["clean_after_s"] = None if clean_after is None else round(clean_after, 2)
        report["metrics"] = {
            f"{n}{{{','.join(f'{k}={v}' for k, v in ls)}}}": v
            for (n, ls), v in sorted(samples.items())
            if n.startswith("callctl_") and not n.startswith("callctl_call_setup_seconds")
        }
        report["metrics_active_calls"] = metric_sum(samples, "callctl_active_calls")

        records = read_calls(caller.workdir)
        for fault, phase in zip(injected, phase_names(faults), strict=True):
            fault.phase = phase
        names = ["baseline", *(f.phase for f in injected)]
        starts = [t0, *(f.start for f in injected)]
        bounds = [
            (n, s, starts[i + 1] if i + 1 < len(starts) else float("inf"))
            for i, (n, s) in enumerate(zip(names, starts, strict=True))
        ]
        by_name = {f.phase: f for f in injected}
        phases = summarise(records, bounds, by_name, args.bound)
        for f in injected:
            phase_end = next(b for n, _, b in bounds if n == f.phase)
            ready = health.ready_after(f, min(phase_end, ended))
            f.detail["ready_s"] = None if ready is None else round(ready[0], 3)
            if ready is not None:
                # the daemon's active calls when ready again against the calls SIPp has going
                at = f.start + ready[0]
                f.detail["active_calls_when_ready"] = ready[1]
                f.detail["calls_in_progress_when_ready"] = sum(
                    1 for c in records if c.in_progress_at(at)
                )
            f.detail["fault_s"] = round(f.end - f.start, 3)
            phases[f.phase]["fault"] = f.detail
        report["phases"] = phases
        report["targets"] = targets(phases, left)
        log = daemon.log.read_text(errors="replace")
        full = sb.log_dir / "full"
        report["logs"] = {
            "ari.effect_failed": log.count("event=ari.effect_failed"),
            "http_sessions_refused": full.read_text(errors="replace").count(
                "HTTP session count exceeded"
            )
            if full.is_file()
            else None,
        }
    finally:
        health.done.set()
        caller.stop()
        for carrier in carriers:
            carrier.stop()
        daemon.stop()
        manager.down(SANDBOX)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        if own_state:
            shutil.rmtree(os.environ["CALLCTL_STATE"], ignore_errors=True)
    report["load_after"] = os.getloadavg()
    out = args.out or REPO / "bench" / "results" / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")

    def cell(value: object) -> str:
        return "-" if value is None else str(value)

    print()
    print(
        f"{'phase':9} {'tried':>6} {'answered':>8} {'failed':>6} {'stuck':>5} {'gave up':>7} "
        f"{'lost':>4}  {'ready s':>7} {'1st ok s':>8}  codes"
    )
    for name, p in report["phases"].items():
        fault = p.get("fault", {})
        print(
            f"{name:9} {p['attempted']:6} {p['answered']:8} {p['failed']:6} {p['stuck']:5} "
            f"{p['gave_up']:7} {p['lost']:4}  {cell(fault.get('ready_s')) if fault else '':>7} "
            f"{cell(p['first_answer_s']):>8}  "
            f"{p['failed_codes']}"
        )
    for name, p in report["phases"].items():
        fault = p.get("fault", {})
        if "active_calls_when_ready" in fault:
            print(
                f"{name}: ready again with {fault['active_calls_when_ready']} active calls in "
                f"the daemon, {fault['calls_in_progress_when_ready']} in progress per SIPp"
            )
    print(
        f"leftovers {report['leftovers']} (clean {report['clean_after_s']} s after the last call)"
    )
    for key, t in report["targets"].items():
        print(f"target {key}: {'met' if t['met'] else 'NOT met'} ({t['value']})")
    print(f"written to {out}" + (f"; work files in {work}" if args.keep else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
