"""What several bench scripts share: the load line, a child process measured for wall
time, CPU time and peak RSS, the script re-run as its own `--child` on a file, the results
written as JSON, and the nearest-rank summary of a list of milliseconds.

The bench scripts are run as files (`.venv/bin/python bench/NAME.py`), so this folder is
first on sys.path and they import this module as `_common`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callctl.build.builder import BuildResult

REPO = Path(__file__).resolve().parent.parent
# `callctl ARGS...` in a child interpreter, without depending on the console script.
CLI = "import sys; from callctl.cli import main; sys.exit(main(sys.argv[1:]))"


def patched_build() -> BuildResult:
    """The patched build of specs/default.yaml from the cache (built first if it is not
    there), quietly: what the benches that start a sandbox measure."""
    # Imported here: a measuring child (icelog_throughput --child) imports this module, and
    # its peak RSS must stay the analyzer's alone.
    from callctl import paths
    from callctl.build.builder import build
    from callctl.build.cache import Cache
    from callctl.build.spec import load_spec

    return build(load_spec(paths.default_spec()), Cache(paths.cache_dir()), lambda _: None)


def print_load() -> None:
    """The machine is shared: every figure is printed next to the load it was taken at."""
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


@dataclass(frozen=True)
class ChildRun:
    proc: subprocess.CompletedProcess[str]
    wall_s: float
    cpu_s: float  # user + system time of the children of this process so far
    peak_rss_mib: float


def run_cli(*args: str) -> ChildRun:
    """Run `callctl ARGS...` in a child process and measure it. Meant to be called once per
    process (the `--child` of a script): the CPU and RSS figures are those of all children."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ChildRun(proc, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run_self_child(script: str, path: Path, env: dict[str, str] | None = None) -> str:
    """Run SCRIPT again as `SCRIPT --child PATH` in a fresh interpreter, so that its peak RSS
    is that of one measurement alone; returns what it printed."""
    return subprocess.run(
        [sys.executable, script, "--child", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    ).stdout


def measure_file(script: str, path: Path, size: int, **labels: object) -> dict[str, Any]:
    """`path` measured by a fresh `SCRIPT --child PATH` (see run_self_child), then removed:
    the JSON object the child printed, with `labels`, the file's size and the load."""
    result: dict[str, Any] = json.loads(run_self_child(script, path))
    path.unlink()
    result.update(labels, bytes=size, load=round(os.getloadavg()[0], 2))
    return result


def write_results(path: Path | None, results: list[dict[str, Any]]) -> None:
    """The results as JSON at `path` (the scripts' --json), when one is given."""
    if path is not None:
        path.write_text(json.dumps(results, indent=1) + "\n")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
    }


def result_head(bench: str, load_before: list[float]) -> dict[str, object]:
    """The first keys of a result written to bench/results/: which bench, when, and the
    machine it was measured on (the load before and after: the machine is shared)."""
    return {
        "bench": bench,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": list(os.getloadavg()),
            "python": platform.python_version(),
        },
    }
