"""The debug state file: one JSON file per Asterisk target, written atomically, and its lock.

Writes go to a temporary file in the same directory, are fsync'ed, renamed over the real file,
and the directory is fsync'ed, so a crash leaves either the old or the new state, never a torn
one. A lock file (flock) serialises `on`/`off`/`expire` across processes.

Location: `$CALLCTL_STATE_DIR/debug/` if set, else `debug/` in callctl's runtime state folder
(`callctl.paths.state_dir()`: `$CALLCTL_STATE`, default `/tmp/callctl`, next to the
sandboxes); the file is named after the AMI target (`127.0.0.1_5038.json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from callctl import paths
from callctl.debug._model import DebugState
from callctl.errors import StateError


def default_state_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("CALLCTL_STATE_DIR"):
        return Path(env["CALLCTL_STATE_DIR"]) / "debug"
    if env.get("CALLCTL_STATE"):
        return Path(env["CALLCTL_STATE"]) / "debug"
    return paths.state_dir() / "debug"


def state_file_name(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", target) + ".json"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StateStore:
    """The state file of one Asterisk target."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @classmethod
    def for_target(cls, target: str, state_dir: Path | None = None) -> StateStore:
        return cls((state_dir or default_state_dir()) / state_file_name(target))

    def load_raw(self) -> dict[str, Any] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"cannot read {self.path}: {err.strerror}") from None
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as err:
            raise StateError(
                f"debug state file {self.path} is not valid JSON ({err.msg})",
                hint="inspect it; if debug is really off, delete it",
            ) from None
        if not isinstance(doc, dict):
            raise StateError(f"debug state file {self.path} is not a JSON object")
        return doc

    def load(self) -> DebugState | None:
        """The active session, or None when debug is off (file absent or only history)."""
        doc = self.load_raw()
        if doc is None or doc.get("status") == "off":
            return None
        return DebugState.from_json(doc)

    def history(self) -> list[dict[str, Any]]:
        doc = self.load_raw()
        if doc is None:
            return []
        hist = doc.get("history", [])
        return list(hist) if isinstance(hist, list) else []

    def save(self, state: DebugState) -> None:
        self._write(state.to_json())

    def save_off(self, history: list[dict[str, Any]]) -> None:
        """Debug is off: keep only the history (the last few sessions) for `status`."""
        self._write({"version": 1, "status": "off", "history": history[-10:]})

    def _write(self, doc: dict[str, Any]) -> None:
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        try:
            write_atomic(self.path, data)
        except OSError as err:
            raise StateError(f"cannot write {self.path}: {err.strerror}") from None

    @contextlib.contextmanager
    def locked_sync(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def locked(self, timeout: float = 30.0) -> AsyncIterator[None]:
        """Exclusive lock without blocking the event loop (polls every 50 ms)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as err:
                    if err.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if loop.time() > deadline:
                        raise StateError(
                            f"another callctl holds {self.lock_path} (waited {timeout:g} s)"
                        ) from None
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(fd)
