"""Debug logging for the length of one probe call (the sandbox), so that the probe can show
the ICE analysis of that call: `callctl debug`'s service turns it on, and off again after,
restoring what was there before. A debug window someone else opened is read and left on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from callctl.asterisk.ami import AmiConfig
from callctl.errors import CallctlError

CHANNEL = "callctl-probe"
# The expiry bounds a probe that dies mid-call: the daemon's watcher (or `callctl debug
# expire`) turns logging off then.
WINDOW = timedelta(minutes=5)


@dataclass
class DebugWindow:
    log: Path | None = None
    warnings: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def around_call(ami: AmiConfig) -> AsyncIterator[DebugWindow]:
    from callctl.debug.service import DebugService

    svc = DebugService(ami)
    window = DebugWindow()
    doc = svc.status()
    if doc["on"]:
        window.log = Path(doc["log_file"])
        yield window
        return
    try:
        res = await svc.on(name=CHANNEL, duration=WINDOW)
    except CallctlError as exc:
        window.warnings.append(f"debug logging could not be turned on: {exc.message}")
        yield window
        return
    window.log = Path(res.state.log_file)
    window.warnings += res.warnings
    try:
        yield window
    finally:
        try:
            off = await svc.off(reason="probe call ended")
            window.warnings += off.warnings
        except CallctlError as exc:
            window.warnings.append(f"debug logging could not be turned off: {exc.message}")
