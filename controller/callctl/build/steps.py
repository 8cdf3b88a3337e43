"""Running build steps: one log file per step, progress lines, a clear error on failure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from callctl.build.buildenv import step_environment
from callctl.build.fileutil import tail
from callctl.errors import BuildError, CallctlError

Progress = Callable[[str], None]


class StepRunner:
    """Runs the named steps of one build, timing each and logging each to its own file."""

    def __init__(
        self, log_dir: Path, progress: Progress, total: int, hold_fds: Sequence[int] = ()
    ) -> None:
        # Step processes inherit the build lock: if callctl itself is killed outright, an
        # orphaned make still holds it, so nobody deletes the tree under it.
        self.hold_fds = tuple(hold_fds)
        self.log_dir = log_dir
        self.progress = progress
        self.total = total
        self.index = 0
        self.timings: dict[str, float] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{self.index:02d}-{name}.log"

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[Path]:
        """A step done in Python; yields its log path. Errors are tagged with the step."""
        self.index += 1
        log = self.log_path(name)
        self.progress(f"[{self.index}/{self.total}] {name}{': ' + detail if detail else ''} ...")
        start = time.monotonic()
        try:
            yield log
        except BuildError as exc:
            exc.step = exc.step or name
            raise
        except CallctlError:
            raise
        elapsed = time.monotonic() - start
        self.timings[name] = round(elapsed, 2)
        self.progress(f"[{self.index}/{self.total}] {name} ok ({elapsed:.1f} s)")

    def run(
        self,
        log: Path,
        cmd: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        step: str,
        timeout: float = 3600,
        heartbeat: Progress | None = None,
    ) -> None:
        """Run a command, appending its output to `log`; raise BuildError on failure."""
        # Only what callctl passes or keys (buildenv): CONFIG_SITE, MAKEFLAGS and the like
        # would change the build without changing its cache key.
        full_env = step_environment(os.environ, env or {})
        with log.open("a", encoding="utf-8") as out:
            out.write(f"$ (cd {cwd} && {' '.join(cmd)})\n")
            out.flush()
            try:
                proc = subprocess.Popen(
                    list(cmd),
                    cwd=cwd,
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=self.hold_fds,
                )
            except FileNotFoundError:
                raise BuildError(
                    f"{cmd[0]} is not installed",
                    step=step,
                    log_path=str(log),
                    hint="run scripts/install-deps.sh",
                ) from None
            returncode = _wait(proc, log, timeout, heartbeat, step)
        if returncode != 0:
            raise BuildError(
                f"{step} failed (exit {returncode})",
                step=step,
                log_path=str(log),
                log_tail=tail(log),
            )


HEARTBEAT_SECONDS = 20.0


def _wait(
    proc: subprocess.Popen[bytes], log: Path, timeout: float, heartbeat: Progress | None, step: str
) -> int:
    """Wait for a step's process; kill its whole group on timeout or Ctrl-C."""
    start = time.monotonic()
    try:
        while True:
            try:
                return proc.wait(timeout=HEARTBEAT_SECONDS)
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    _kill_group(proc)
                    raise BuildError(
                        f"{step} timed out after {timeout:.0f} s",
                        step=step,
                        log_path=str(log),
                        log_tail=tail(log),
                    ) from None
                if heartbeat:
                    last = tail(log, 1).strip()[:90]
                    heartbeat(f"    ... {step} running {elapsed:.0f} s: {last}")
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a step's whole process group: the step, and everything it started (configure's
    compiler runs, make's jobs). Returns when none of them can still write to the tree."""
    pgid = proc.pid
    if proc.returncode is None:
        # Until the step is reaped its pid, which is the group's id, cannot be reused: the
        # signals below reach this group and no other.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pgid) and time.monotonic() < deadline:
            time.sleep(0.01)
        # What the step started got SIGTERM too, but may still be running (or ignore it).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()
    # Removing the scratch tree now would race their last writes.
    deadline = time.monotonic() + 30
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _running(pid: int) -> bool:
    """The child has not exited (it is left unreaped: WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group, from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command's ")": state, ppid, pgrp.
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
