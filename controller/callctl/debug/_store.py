"""The debug state file: one JSON file per Asterisk target, written atomically, and its lock.

The folder is private (`callctl.fsutil`): created 0700, refused when another user could write
it or owns it, every file opened relative to the checked folder and never through a symlink.
Writes are atomic (temporary file 0600 from the first byte, O_EXCL|O_NOFOLLOW, fsync, rename,
fsync of the folder), so a crash leaves the old or the new state, never a torn one. A lock
file (flock) serialises `on`/`off`/`expire` across processes.

A store belongs to ONE target: loading a file whose recorded target is another one is
refused, so a file can never make callctl talk to an Asterisk it was not asked about.

Location (one per host, shared by the CLI, the daemon and the expiry timer):
`$CALLCTL_STATE_DIR/debug/`, else `$CALLCTL_STATE/debug/`, else `/var/lib/callctl/debug/`
when that folder's parent exists (a host deployed by the ansible role), else `debug/` in
callctl's runtime folder (`callctl.paths.state_dir()`, `/tmp/callctl`, next to the
sandboxes). The file is named after the AMI target (`127.0.0.1_5038.json`).
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

from callctl import fsutil, paths
from callctl.debug._model import DebugState
from callctl.errors import StateError

SYSTEM_STATE = Path("/var/lib/callctl")  # the ansible role's callctl_state_dir


def default_state_dir(env: dict[str, str] | None = None, system: Path = SYSTEM_STATE) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("CALLCTL_STATE_DIR"):
        return Path(env["CALLCTL_STATE_DIR"]) / "debug"
    if env.get("CALLCTL_STATE"):
        return Path(env["CALLCTL_STATE"]) / "debug"
    if system.is_dir():
        return system / "debug"
    return paths.state_dir() / "debug"


def state_file_name(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", target) + ".json"


class StateStore:
    """The state file of one Asterisk target."""

    def __init__(self, directory: Path, target: str) -> None:
        self.directory = directory
        self.target = target
        self.name = state_file_name(target)
        self.path = directory / self.name
        self.lock_name = self.name + ".lock"

    @classmethod
    def for_target(cls, target: str, state_dir: Path | None = None) -> StateStore:
        return cls(state_dir or default_state_dir(), target)

    @contextlib.contextmanager
    def _dir(self, create: bool = True) -> Iterator[int]:
        with fsutil.private_dir(self.directory, create=create) as fd:
            yield fd

    def load_raw(self) -> dict[str, Any] | None:
        if not self.directory.exists():
            return None
        try:
            with self._dir(create=False) as fd:
                data = fsutil.read_private(fd, self.name)
        except OSError as err:
            raise StateError(f"cannot read {self.path}: {err.strerror}") from None
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StateError(
                f"debug state file {self.path} is not valid JSON ({err})",
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
        if doc.get("target") != self.target:
            raise StateError(
                f"debug state file {self.path} names target {doc.get('target')!r}, "
                f"not {self.target!r}: refused",
                hint="a state file only ever acts on the Asterisk it was made for; "
                "inspect it and delete it",
            )
        return DebugState.from_json(doc)

    def history(self) -> list[dict[str, Any]]:
        doc = self.load_raw()
        if doc is None:
            return []
        hist = doc.get("history", [])
        return [h for h in hist if isinstance(h, dict)][-10:] if isinstance(hist, list) else []

    def save(self, state: DebugState) -> None:
        self._write(state.to_json())

    def save_off(self, history: list[dict[str, Any]]) -> None:
        """Debug is off: keep only the history (the last few sessions) for `status`."""
        self._write({"version": 1, "status": "off", "history": history[-10:]})

    def remove(self) -> None:
        """Drop the file (needs no free space, unlike a rewrite)."""
        try:
            with self._dir(create=False) as fd:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.name, dir_fd=fd)
                fsutil.fsync_dir(fd)
        except OSError as err:
            raise StateError(f"cannot remove {self.path}: {err.strerror}") from None

    def _write(self, doc: dict[str, Any]) -> None:
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        try:
            with self._dir() as fd:
                fsutil.write_atomic(fd, self.name, data)
        except OSError as err:
            raise StateError(f"cannot write {self.path}: {err.strerror}") from None

    def _open_lock(self) -> int:
        try:
            with self._dir() as fd:
                return fsutil.open_lock(fd, self.lock_name)
        except OSError as err:
            raise StateError(f"cannot open {self.directory / self.lock_name}: {err}") from None

    @contextlib.contextmanager
    def locked_sync(self) -> Iterator[None]:
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def locked(self, timeout: float = 30.0) -> AsyncIterator[None]:
        """Exclusive lock without blocking the event loop (polls every 50 ms)."""
        fd = self._open_lock()
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
                            f"another callctl holds {self.directory / self.lock_name} "
                            f"(waited {timeout:g} s)"
                        ) from None
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(fd)
