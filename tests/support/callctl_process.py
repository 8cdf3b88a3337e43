"""`callctl` as a user runs it: a separate process of this venv's python (`python -m
callctl`), its output captured as text. Tests of the CLI in-process call callctl.cli.main."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_callctl(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`callctl ARGS...` to its end (never raises on its exit status); `env` is added to
    this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "callctl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
