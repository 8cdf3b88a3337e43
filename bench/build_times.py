"""Build manager benchmark: from-scratch build, cached no-op, rebuild after one patch changed.

    .venv/bin/python bench/build_times.py [--keep] [--out bench/results/build.json]

From scratch means an empty cache (no build, no downloads, cold compiler cache) in a temporary
folder. The patch change edits one line of a patch in a copy of the series (the code it adds),
so the rebuild pays for everything that depends on the patch and the new install prefix,
while the compiler cache serves the rest. Targets (issue 2): no-op under 5 s; from scratch
under 5 minutes on 2 cores with the minimal module set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CALLCTL = [sys.executable, "-m", "callctl"]


def timed_build(spec: Path, cache: Path) -> tuple[float, dict[str, object]]:
    start = time.monotonic()
    proc = subprocess.run(
        [*CALLCTL, "build", "--spec", str(spec), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "CALLCTL_CACHE": str(cache)},
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stderr[-3000:]}")
    doc: dict[str, object] = json.loads(proc.stdout)
    return elapsed, doc


def spec_with_series(tmp: Path, series_dir: Path) -> Path:
    text = (REPO / "specs" / "default.yaml").read_text()
    text = text.replace("../patches/asterisk/series", str(series_dir / "series"))
    text = text.replace(
        "../patches/pjproject/series", str(REPO / "patches" / "pjproject" / "series")
    )
    spec = tmp / "bench-spec.yaml"
    spec.write_text(text)
    return spec


def copy_series_with_marker(tmp: Path, marker: str) -> Path:
    """The real Asterisk series plus a small code patch whose content we can vary."""
    d = tmp / "series"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(REPO / "patches" / "asterisk", d)
    patch = d / "9990-bench-marker.patch"
    patch.write_text(f"""From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
Subject: [PATCH] bench: a one-line change in app_echo.c

---
 apps/app_echo.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/apps/app_echo.c b/apps/app_echo.c
--- a/apps/app_echo.c
+++ b/apps/app_echo.c
@@ -29,6 +29,7 @@
 \t<support_level>core</support_level>
  ***/
 
+static const char bench_marker[] __attribute__((used)) = "{marker}";
 #include "asterisk.h"
 
 #include "asterisk/file.h"
""")
    with (d / "series").open("a") as f:
        f.write("9990-bench-marker.patch\n")
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "build.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="callctl-bench-", dir="/var/tmp"))
    cache = tmp / "cache"
    results: dict[str, object] = {
        "host": platform.node(),
        "cores": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_at_start": os.getloadavg(),
    }
    try:
        spec = spec_with_series(tmp, copy_series_with_marker(tmp, "bench marker 1"))
        t, doc = timed_build(spec, cache)
        manifest = doc["manifest"]
        assert isinstance(manifest, dict)
        results["from_scratch_s"] = round(t, 1)
        results["from_scratch_steps_s"] = manifest["timings"]
        results["modules"] = len(manifest["modules"]["installed"])
        print(f"from scratch: {t:.1f} s ({results['modules']} modules)", flush=True)

        t, doc = timed_build(spec, cache)
        assert doc["reused"] is True
        results["cached_noop_s"] = round(t, 2)
        print(f"cached no-op: {t:.2f} s", flush=True)

        spec = spec_with_series(tmp, copy_series_with_marker(tmp, "bench marker 2"))
        t, doc = timed_build(spec, cache)
        assert doc["reused"] is False
        manifest = doc["manifest"]
        assert isinstance(manifest, dict)
        results["one_patch_changed_s"] = round(t, 1)
        results["one_patch_changed_steps_s"] = manifest["timings"]
        print(f"one patch changed: {t:.1f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    results["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
