"""Analyzer throughput and memory on a large log made by repeating real pjnath lines.

    .venv/bin/python bench/icelog_throughput.py [--mb 200] [--framing raw|asterisk|both]

Three logs, each made by repeating real lines until the file reaches --mb:
- raw:      tests/data/logs/pjnath-stock-late-peer.log (real pjnath 2.17 output, level 5,
            STUN dumps included): every line is ICE/STUN, the worst case;
- asterisk: the same lines re-framed the way Asterisk's res_pjproject.c + logger.c write
            them to a file channel;
- mixed:    a real sandbox debug log (tests/data/logs/asterisk-debug-sip-options.log: SIP
            traffic, pjsip and Asterisk debug at level 5) followed by one re-framed ICE run,
            repeated: ICE lines are about 10 % of the lines, as in a real call's debug log.
Memory: peak RSS of a child process that only runs the analyzer, at two file sizes; flat
memory means the two peaks are about equal. Both wall-clock and CPU-time rates are printed:
on a shared machine the CPU rate is the analyzer's own cost, the wall rate what a user waits.
The load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from _common import REPO, print_load, run_self_child

UNIT = REPO / "tests" / "data" / "logs" / "pjnath-stock-late-peer.log"
REAL_AST = REPO / "tests" / "data" / "logs" / "asterisk-debug-sip-options.log"

SIP = [
    "[2026-11-23 01:00:00.000] VERBOSE[4242] res_pjsip_logger.c: <--- Received SIP request "
    "(402 bytes) from UDP:127.0.0.1:5070 --->",
    "OPTIONS sip:probe@127.0.0.1:5060 SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0",
    "Call-ID: 1-1234@127.0.0.1",
]


def asterisk_lines(raw: list[str], sip: bool = False) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(raw):
        if len(line) > 37 and line[:2].isdigit() and line[2] == ":":
            sender, rest = line[13:35].strip(), line[37:]
            out.append(
                f"[2026-11-23 01:{line[3:5]}:{line[6:12]}] DEBUG[4242] pjproject: "
                f"\t{sender:>22} {rest}"
            )
        else:
            out.append(line)
        if sip and i % 4 == 0:
            out.extend(SIP)
    return out


def make_log(path: Path, mb: int, framing: str) -> int:
    raw = UNIT.read_text().splitlines()
    if framing == "raw":
        lines = raw
    elif framing == "asterisk":
        lines = asterisk_lines(raw)
    else:  # "mixed": a real sandbox debug log (SIP traffic) around each framed ICE run
        lines = REAL_AST.read_text().splitlines() + asterisk_lines(raw)
    unit = ("\n".join(lines) + "\n").encode()
    target = mb * 1024 * 1024
    with path.open("wb") as f:
        written = 0
        while written < target:
            f.write(unit)
            written += len(unit)
    return written


def child(path: str) -> None:
    from callctl.icelog.cli import analyze_file

    t0 = time.perf_counter()
    c0 = time.process_time()
    a = analyze_file(Path(path))
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rep = a.report()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{dt:.3f} {rss_kb} {rep['sessions_total']} {rep['lines']} {cpu:.3f}")


def run(path: Path) -> tuple[float, int, int, int, float]:
    out = run_self_child(__file__, path, env={**os.environ, "PYTHONPATH": str(REPO)}).split()
    return float(out[0]), int(out[1]), int(out[2]), int(out[3]), float(out[4])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--framing", choices=("raw", "asterisk", "mixed", "all"), default="all")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    framings = ("raw", "asterisk", "mixed") if args.framing == "all" else (args.framing,)
    print_load()
    with tempfile.TemporaryDirectory() as d:
        for framing in framings:
            small, big = Path(d) / "small.log", Path(d) / "big.log"
            make_log(small, max(1, args.mb // 10), framing)
            size = make_log(big, args.mb, framing)
            _, rss_small, _, _, _ = run(small)
            secs, rss_big, sessions, lines, cpu = run(big)
            print(
                f"{framing:8} {size / 1e6:7.1f} MB {lines:9d} lines {sessions:6d} sessions: "
                f"{secs:6.2f} s = {size / 1e6 / secs:6.1f} MB/s wall, "
                f"{size / 1e6 / cpu:6.1f} MB/s CPU; peak RSS "
                f"{rss_small / 1024:.1f} MiB at {args.mb // 10 or 1} MB, "
                f"{rss_big / 1024:.1f} MiB at {args.mb} MB"
            )
            small.unlink()
            big.unlink()


if __name__ == "__main__":
    main()
