"""The sandbox's own Asterisk children: alive by their exit status, never waited for unbounded.

Right after exec, /proc/PID/cmdline can read empty (the kernel sets the arguments up after
closing the descriptors Popen waits on): checked by cmdline alone, a starting Asterisk looked
gone, `up` gave up at once and then waited for it for ever (a CI run hung there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from callctl.sandbox import manager


def test_a_child_whose_cmdline_does_not_match_is_still_alive_and_gets_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager, "STOP_TIMEOUT", 1.0)
    # Stands in for the moment its cmdline is not yet "asterisk -C CONF".
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    conf = tmp_path / "etc" / "asterisk.conf"
    monkeypatch.setitem(manager._CHILDREN, child.pid, child)
    try:
        assert manager._alive(child.pid, conf)
        state = SimpleNamespace(pid=child.pid, prefix=str(tmp_path / "no-such-prefix"))
        manager.stop_process(state, conf)  # type: ignore[arg-type]
        assert child.poll() is not None  # stopped (SIGTERM), not just forgotten
        assert child.pid not in manager._CHILDREN
        assert not manager._alive(child.pid, conf)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
