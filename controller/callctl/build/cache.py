"""The build cache on disk: finished builds, scratch trees, locks and clean-up.

    CACHE/builds/KEY/           a finished build: prefix/, manifest.json, logs/
    CACHE/work/KEY/             the scratch tree of a build in progress
    CACHE/work/KEY.lock         held (flock) for as long as that build runs
    CACHE/downloads/            verified sources, repacked pjproject tarballs
    CACHE/ccache/               compiler cache (speeds up rebuilds after a patch change)
    CACHE/specs/NAME -> ../builds/KEY   the newest build of each spec name

A build becomes visible only by renaming its finished tree into builds/: a failed or
interrupted build never touches an earlier good one. A scratch tree whose lock nobody holds
was left by an interrupted build and is removed at the start of the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from callctl.build.fileutil import fsync_dir, rmtree, unlocked_partial
from callctl.errors import StateError
from callctl.names import check_name


@dataclass(frozen=True)
class Cache:
    root: Path

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def ccache(self) -> Path:
        return self.root / "ccache"

    def build_dir(self, key: str) -> Path:
        return self.builds / key

    def is_built(self, key: str) -> bool:
        return (self.build_dir(key) / "manifest.json").is_file()

    def manifest(self, key: str) -> dict[str, Any]:
        path = self.build_dir(key) / "manifest.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read build manifest {path}: {exc}") from None
        return data

    def lock(self, key: str, wait: Callable[[str], None] | None = None) -> IO[str]:
        """Take the build lock for KEY. If another build of the same inputs runs: with `wait`,
        report through it and block until that build ends; without, raise."""
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / f"{key}.lock"
        f = path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            if wait is None:
                f.close()
                raise StateError(
                    f"another build of the same inputs ({key}) is running (pid {holder})",
                    hint="wait for it; its result will be reused",
                ) from None
            wait(f"another build of the same inputs is running (pid {holder}); waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        return f

    def clean_interrupted(self) -> list[str]:
        """Remove scratch trees of builds that are no longer running. Returns their keys."""
        removed: list[str] = []
        for entry in sorted(self.work.iterdir()) if self.work.is_dir() else []:
            if entry.suffix == ".lock" or not entry.is_dir():
                continue
            lock_path = self.work / f"{entry.name}.lock"
            with lock_path.open("a") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live build
                rmtree(entry)
                removed.append(entry.name)
                fcntl.flock(f, fcntl.LOCK_UN)
        # Half-moved builds (renamed only at the very end) cannot exist; stray partial
        # downloads can. One a live writer holds (another build downloading) is kept.
        for partial in self.downloads.glob("**/*.partial") if self.downloads.is_dir() else []:
            if unlocked_partial(partial):
                rmtree(partial)
        return removed

    def publish(self, key: str, finished: Path) -> Path:
        """Atomically make a finished tree the build for KEY."""
        self.builds.mkdir(parents=True, exist_ok=True)
        dest = self.build_dir(key)
        if dest.exists():
            raise StateError(f"{dest} already exists; refusing to replace a finished build")
        os.rename(finished, dest)
        return dest

    def try_lock(self, key: str) -> IO[str] | None:
        """The build lock for KEY if nobody holds it (a build, a reuse, a prune), else None."""
        self.work.mkdir(parents=True, exist_ok=True)
        f = (self.work / f"{key}.lock").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None
        return f

    def point_spec(self, name: str, key: str) -> None:
        """Point specs/NAME at builds/KEY. Call it holding KEY's lock, so no prune runs
        between a build's publish (or a reuse's check) and this link."""
        specs = self.root / "specs"
        specs.mkdir(parents=True, exist_ok=True)
        # A temp name of its own: concurrent calls never remove each other's temp link.
        tmp = specs / f".{check_name(name, 'spec name')}.{secrets.token_hex(6)}.tmp"
        tmp.symlink_to(Path("..") / "builds" / key)
        try:
            os.replace(tmp, specs / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(specs)

    def spec_links(self) -> dict[str, str]:
        """Spec name -> the key of its newest build."""
        specs = self.root / "specs"
        if not specs.is_dir():
            return {}
        return {
            p.name: os.readlink(p).rsplit("/", 1)[-1]
            for p in specs.iterdir()
            if p.is_symlink() and not p.name.startswith(".")
        }

    def keys_in_use(self) -> set[str]:
        """Builds a running process executes from (a sandbox, a deployed test, a shell)."""
        used = set()
        prefix = str(self.builds.resolve()) + "/"
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                exe = os.readlink(proc / "exe")
            except OSError:
                continue
            if exe.startswith(prefix):
                used.add(exe[len(prefix) :].split("/", 1)[0])
        return used

    def prune(self) -> list[str]:
        """Remove builds that no spec points to and no process runs from. Returns their keys."""
        keep = set(self.spec_links().values()) | self.keys_in_use()
        removed = []
        for key in self.list_builds():
            if key in keep:
                continue
            # A build being published or reused holds its lock until its spec link is
            # written: skip it, and look at the links again once the lock is ours.
            lock = self.try_lock(key)
            if lock is None:
                continue
            try:
                if key in self.spec_links().values():
                    continue
                # Out of sight first (one rename), then deleted: never a half-deleted build.
                trash = self.builds / f".trash-{key}-{secrets.token_hex(4)}"
                os.rename(self.build_dir(key), trash)
            finally:
                lock.close()
            rmtree(trash)
            removed.append(key)
        return removed

    def list_builds(self) -> list[str]:
        if not self.builds.is_dir():
            return []
        return sorted(
            p.name
            for p in self.builds.iterdir()
            if not p.name.startswith(".") and (p / "manifest.json").is_file()
        )
