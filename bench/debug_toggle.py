"""Latency of `debug on` and `debug off` against a real Asterisk on loopback.

    .venv/bin/python bench/debug_toggle.py [--rounds 20]

Uses CALLCTL_AMI_HOST/PORT/USER/SECRET if set; otherwise starts a throw-away sandbox from the
cached build of --spec (default specs/stock.yaml: toggling does not depend on callctl's
patches; built first if needed) and stops it after.
Each round times the full operation as the CLI does it: connect, log in, read the prior state
(4 commands, `on` only), apply or undo the steps, rewrite the state file after each step
(fsync), read back what `off` undid, log off. Reports min / median / p95 / max in
milliseconds, for the default steps, `--category ice,dtls,stun,rtp` and (as root, on
loopback) `--capture` (until both tcpdumps say they listen / are gone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from callctl.asterisk.ami import AmiConfig  # noqa: E402
from callctl.asterisk.connect import resolve_ami  # noqa: E402
from callctl.debug import capture as C  # noqa: E402
from callctl.debug.service import DebugService  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def bench(cfg: AmiConfig, rounds: int, state_dir: Path) -> dict[str, list[float]]:
    svc = DebugService(cfg, state_dir=state_dir)
    res: dict[str, list[float]] = {}
    variants: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        (" --category", {"categories": ("ice", "dtls", "stun", "rtp")}),
    ]
    if os.geteuid() == 0 and cfg.host.startswith("127."):
        variants.append((" --capture", {"capture": C.CaptureRequest(mb=5)}))
    for label, kw in variants:
        on, off = res.setdefault(f"on{label}", []), res.setdefault(f"off{label}", [])
        for _ in range(rounds):
            t0 = time.perf_counter()
            await svc.on(name="cct-bench", duration=timedelta(minutes=5), **kw)
            t1 = time.perf_counter()
            await svc.off()
            t2 = time.perf_counter()
            on.append((t1 - t0) * 1000)
            off.append((t2 - t1) * 1000)
    return res


def bench_cli(cfg: AmiConfig, rounds: int, state_dir: Path) -> dict[str, list[float]]:
    """The same through `python -m controller debug on|off` (interpreter start-up included)."""
    import subprocess

    env = {
        **os.environ,
        "CALLCTL_AMI_HOST": cfg.host,
        "CALLCTL_AMI_PORT": str(cfg.port),
        "CALLCTL_AMI_USER": cfg.user,
        "CALLCTL_AMI_SECRET": cfg.secret,
        "CALLCTL_STATE_DIR": str(state_dir),
        "PYTHONPATH": str(REPO),
    }
    res: dict[str, list[float]] = {"on (cli)": [], "off (cli)": []}
    for _ in range(rounds):
        for what, argv in (("on (cli)", ["on", "--name", "cct-bench"]), ("off (cli)", ["off"])):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "callctl", "-q", "debug", *argv],
                env=env,
                check=True,
                capture_output=True,
            )
            res[what].append((time.perf_counter() - t0) * 1000)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--spec", type=Path, default=REPO / "specs" / "stock.yaml")
    args = ap.parse_args()
    sandbox = None
    if os.environ.get("CALLCTL_AMI_PORT"):
        cfg = resolve_ami()
    else:
        os.environ.setdefault("CALLCTL_STATE", f"/tmp/cctb{os.getpid()}")
        from callctl.build.builder import build
        from callctl.build.cache import Cache
        from callctl.build.spec import load_spec
        from callctl.paths import cache_dir
        from callctl.sandbox import manager

        result = build(
            load_spec(args.spec),
            Cache(cache_dir()),
            lambda text: print(f"[build] {text}", file=sys.stderr),
        )
        sandbox = manager.up(result, manager.SandboxOptions(name=f"bench{os.getpid()}"))
        cfg = AmiConfig(sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret)
    try:
        with tempfile.TemporaryDirectory() as d:
            res = asyncio.run(bench(cfg, args.rounds, Path(d)))
            res.update(bench_cli(cfg, max(3, args.rounds // 3), Path(d)))
    finally:
        if sandbox is not None:
            sandbox.stop()
    print(f"Asterisk AMI at {cfg.target}, {args.rounds} rounds")
    for what, vals in res.items():
        print(
            f"debug {what:14}: min {min(vals):6.1f}  median {statistics.median(vals):6.1f}  "
            f"p95 {pct(vals, 95):6.1f}  max {max(vals):6.1f} ms"
        )


if __name__ == "__main__":
    main()
