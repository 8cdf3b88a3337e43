"""`callctl config check` on hostile routing configs (issue 16 item 9): time, peak RSS and
how much it prints.

    .venv/bin/python bench/config_hostile.py [--only NAME]... [--json FILE]

Each input is generated into a temporary file and checked by `callctl config check` in a
child process: wall time, the child's CPU time and peak RSS, and the bytes it wrote. The
inputs are the ones the audit used:

- deep:        a list nested 500 deep (1 KB), and 2,000 deep (4 KB)
- aliases:     1 MB: a 100 KB value and 225,000 aliases to it in a list
- alias-bomb:  ten levels of ten aliases each (10^9 values if walked), 1 KB
- long-value:  one 1 MB trunk name
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAD = "version: 1\njingle: {endpoint: gw}\npolicy: {allowed_destinations: ['+1']}\n"


def deep(levels: int) -> str:
    return HEAD + "trunks: " + "[" * levels + "]" * levels + "\n"


def aliases(size: int) -> str:
    value = "x" * 100_000
    count = (size - len(value)) // 4
    return HEAD + f"big: &v '{value}'\ntrunks:\n  primary: a\n  fallbacks: [{'*v, ' * count}]\n"


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "version: 1\n" + "\n".join(lines) + "\ntrunks: {primary: a, fallbacks: *a9}\n"


def long_value(size: int) -> str:
    return HEAD + f"trunks: {{primary: '{'a b' * (size // 3)}'}}\n"


CASES = {
    "deep-500": lambda: deep(500),
    "deep-2000": lambda: deep(2000),
    "aliases-1MB": lambda: aliases(1_000_000),
    "alias-bomb": alias_bomb,
    "long-value-1MB": lambda: long_value(1_000_000),
}


def run(text: str) -> dict[str, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "callctl", "config", "check", f.name],
            capture_output=True,
            cwd=REPO,
        )
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(f.name)
    first = (proc.stdout + proc.stderr).decode(errors="replace").splitlines()[:1]
    return {
        "input_bytes": len(text),
        "exit": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
        # ru_maxrss of children is the largest child so far: each case runs once, in order
        # of growing expected size, and the figure is read as "at most".
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
        "output_bytes": len(proc.stdout) + len(proc.stderr),
        "first_line": first[0][:160] if first else "",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--only", action="append", choices=sorted(CASES), help="repeatable")
    args = ap.parse_args()
    results = {"load_average": os.getloadavg(), "cases": {}}
    for name, make in CASES.items():
        if args.only and name not in args.only:
            continue
        r = run(make())
        results["cases"][name] = r  # type: ignore[index]
        print(
            f"{name:<15} {r['input_bytes']:>9} B  exit {r['exit']}  {r['wall_s']:.2f} s  "
            f"cpu {r['cpu_s']:.2f} s  {r['peak_rss_mib']} MiB  {r['output_bytes']} B out"
        )
        print(f"{'':<15} {r['first_line']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
