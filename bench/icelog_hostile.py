"""`callctl ice analyze` on hostile inputs (issue 16 item 5): time and peak RSS.

    .venv/bin/python bench/icelog_hostile.py [--scale 1.0] [--only NAME] [--json FILE]

Each input is generated into a temporary file, at two sizes (half and full), and analysed
by `callctl ice analyze --json` in a child process: wall time, CPU time and the child's peak
RSS. Linear time shows as a CPU ratio near 2 between the two sizes; bounded memory as two
peaks about equal. The inputs are the ones the audit found (sizes at --scale 1):

- huge-digits:   5 KB lines each holding a 4,300+ digit field, at every int() site (1 MB)
- undestroyed:   400k "ICE session created" lines, never destroyed (38 MB)
- unusual-names: 20k sessions not named icess... in an Asterisk log (2.3 MB)
- usual-names:   the same with icess... names (the control)
- one-line:      a single line without a newline (1 GB)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import measure_file, print_load, run_cli, write_results

HUGE = "9" * 4400
CREATED = "ICE session created, comp_cnt=2, role is Controlled agent"


def raw(sender: str, text: str) -> str:
    return f"00:00:00.000 {sender:>22}  {text}\n"


def ast(sender: str, text: str) -> str:
    return f"[2026-11-23 00:10:21.000] DEBUG[42] pjproject: \t{sender:>22} {text}\n"


def huge_digits(n: int) -> Iterator[str]:
    pad = "x" * 600
    for i in range(n // 5):
        yield raw(f"icess0x{i:x}", f"ICE session created, comp_cnt={HUGE}, role is {pad}")
        yield raw("icess0x1", f"Candidate {HUGE} added: comp_id=1, type=host {pad}")
        yield raw("icess0x1", f"Check 0: [{HUGE}] 1.1.1.1:1-->2.2.2.2:2: state changed {pad}")
        yield ast("icess0x1", CREATED).replace("21.000]", f"21.{HUGE}]")
        yield ast("icess0x1", f"Check {HUGE}: [1] a-->b (nominated): connectivity check SUCCESS")


def undestroyed(n: int) -> Iterator[str]:
    for i in range(n):
        yield raw(f"icess0x{i:012x}", CREATED)


def names(prefix: str) -> Callable[[int], Iterator[str]]:
    def gen(n: int) -> Iterator[str]:
        for i in range(n):
            name = f"{prefix}{i:x}"
            yield ast(name, "ICE session created, comp_cnt=1, role is Controlling agent")
            yield ast(name, "ICE process complete, status=Success")

    return gen


INPUTS: dict[str, tuple[Callable[[int], Iterator[str]], int]] = {
    "huge-digits": (huge_digits, 200),
    "undestroyed": (undestroyed, 400_000),
    "unusual-names": (names("agent"), 20_000),
    "usual-names": (names("icess0x"), 20_000),
}
ONE_LINE_BYTES = 1 << 30


def write(path: Path, name: str, scale: float) -> int:
    with path.open("wb") as f:
        if name == "one-line":
            block = b"A" * (1 << 20)
            for _ in range(int(ONE_LINE_BYTES * scale) >> 20):
                f.write(block)
        else:
            gen, n = INPUTS[name]
            for line in gen(max(1, int(n * scale))):
                f.write(line.encode())
    return path.stat().st_size


def child(path: str) -> None:
    run = run_cli("ice", "analyze", "--json", path)
    proc = run.proc
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    print(
        json.dumps(
            {
                "rc": proc.returncode,
                "wall_s": round(run.wall_s, 3),
                "cpu_s": round(run.cpu_s, 3),
                "peak_rss_mib": round(run.peak_rss_mib, 1),
                "sessions": doc.get("sessions_total"),
                "warnings": doc.get("warnings"),
                "error": proc.stderr.strip()[-200:] if proc.returncode else "",
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", action="append")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    names_ = args.only or [*INPUTS, "one-line"]
    results: list[dict[str, Any]] = []
    print_load()
    with tempfile.TemporaryDirectory() as d:
        for name in names_:
            for frac in (0.5, 1.0):
                path = Path(d) / f"{name}.log"
                r = measure_file(__file__, path, write(path, name, args.scale * frac), input=name)
                results.append(r)
                print(
                    f"{name:14} {r['bytes'] / 1e6:8.1f} MB: rc {r['rc']}, "
                    f"{r['wall_s']:7.2f} s wall, "
                    f"{r['cpu_s']:7.2f} s CPU, peak RSS {r['peak_rss_mib']:6.1f} MiB, "
                    f"sessions {r['sessions']}, warnings {r['warnings']} {r['error']}"
                )
    write_results(args.json, results)


if __name__ == "__main__":
    main()
