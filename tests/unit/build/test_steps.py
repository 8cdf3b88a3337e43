"""Stopping a build step stops everything it started, before the scratch tree is removed."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
from callctl.build import steps
from callctl.build.steps import StepRunner
from callctl.errors import BuildError


def test_a_stopped_step_leaves_no_process_of_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step dies on SIGTERM; what it started ignores SIGTERM (as a busy tool may).
    script = "(trap '' TERM; echo $$ > child.pid; exec sleep 300) & echo ready; exec sleep 300"
    monkeypatch.setattr(steps, "HEARTBEAT_SECONDS", 0.05)
    runner = StepRunner(tmp_path / "logs", lambda _: None, 1)
    log = tmp_path / "logs" / "step.log"
    started: list[int] = []
    real_popen = steps.subprocess.Popen

    def popen(*args, **kwargs):  # type: ignore[no-untyped-def]
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(steps.subprocess, "Popen", popen)
    try:
        with pytest.raises(BuildError, match="timed out"):
            runner.run(log, ["sh", "-c", script], cwd=tmp_path, step="step", timeout=0.01)
        assert steps._group_members(started[0]) == []
    finally:
        with contextlib.suppress(ProcessLookupError, IndexError):
            os.killpg(started[0], signal.SIGKILL)
