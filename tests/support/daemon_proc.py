"""`callctl run` as a separate process, and the faults a stall test or a soak puts on it.

Black box only: the daemon is driven by signals and by cutting its TCP connections, and read
through its HTTP API (`/health`, `/metrics`) and `callctl calls --json`, as an operator would.
Synchronous on purpose: the soak is a plain script, and a test calls these from a thread or
between its own awaits (each request is a loopback round trip with a short timeout).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from callctl.sandbox.manager import free_port

# name{label="value",...} value
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Labels = tuple[tuple[str, str], ...]


def parse_metrics(text: str) -> dict[tuple[str, Labels], float]:
    """Prometheus text format: every sample by (name, sorted labels)."""
    out: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())
        if m is None or line.startswith("#"):
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric_sum(samples: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    """The sum of `name` over every sample whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


class DaemonProcess:
    """One `callctl run` against a sandbox; `start()` again after `kill()` is a restart (same
    port, same log file, appended)."""

    def __init__(
        self,
        sandbox: str,
        workdir: Path,
        routing: Path,
        extra: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        debug_watch: bool = False,
    ) -> None:
        """`env`: more environment for the process; `debug_watch`: leave the daemon's
        debug-expiry watch on (tests of `callctl debug`)."""
        self.env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
        self.debug_watch = debug_watch
        self.sandbox = sandbox
        self.port = free_port()
        self.routing = routing
        self.extra = list(extra)
        self.log = workdir / "daemon.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> DaemonProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "callctl",
                    "run",
                    "--config",
                    str(self.routing),
                    "--sandbox",
                    self.sandbox,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    *([] if self.debug_watch else ["--no-debug-watch"]),
                    *self.extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds until /health said ready; raises with the log's tail if it never does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.running():
                raise AssertionError("callctl run exited:\n" + self.log_tail())
            if self.ready():
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"callctl run not ready after {timeout:.0f} s:\n" + self.log_tail())

    def pause(self) -> None:
        """A stall: the process stops (SIGSTOP); its sockets stay open, Asterisk keeps writing."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """A crash: SIGKILL, no drain, no goodbye to Asterisk."""
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGCONT (in case it is paused), SIGTERM twice (drain, then force), SIGKILL last."""
        if self.proc is None:
            return None
        if self.running():
            os.kill(self.pid, signal.SIGCONT)
            for sig in (signal.SIGTERM, signal.SIGTERM):
                self.proc.send_signal(sig)
                try:
                    return self.proc.wait(timeout / 2)
                except subprocess.TimeoutExpired:
                    pass
            self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- what it says --------------------------------------------------------------------------

    def _get(self, path: str, timeout: float) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as err:  # 503 from /health is an answer, not a failure
            return int(err.code), err.read().decode()

    def health(self, timeout: float = 1.0) -> dict[str, object] | None:
        """The /health document, or None when the daemon does not answer in time."""
        try:
            _, body = self._get("/health", timeout)
            return dict(json.loads(body))
        except (OSError, ValueError):
            return None

    def ready(self, timeout: float = 1.0) -> bool:
        doc = self.health(timeout)
        return bool(doc and doc.get("ready"))

    def metrics(self) -> dict[tuple[str, Labels], float]:
        status, body = self._get("/metrics", 5.0)
        assert status == 200, body
        return parse_metrics(body)

    def calls(self) -> list[dict[str, object]]:
        """Active calls as `callctl calls --json` prints them (the CLI, not the API directly)."""
        out = subprocess.run(
            [sys.executable, "-m", "callctl", "calls", "--json", "--api", f"127.0.0.1:{self.port}"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert out.returncode == 0, out.stderr
        calls = json.loads(out.stdout)["calls"]
        assert isinstance(calls, list), out.stdout
        return calls

    # -- cutting its connections -----------------------------------------------------------------

    def sockets_to(self, ports: Sequence[int]) -> list[int]:
        """Local ports of the daemon's established TCP connections to 127.0.0.1:`ports`."""
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        local: list[int] = []
        for line in out.splitlines():
            fields = line.split()
            if f"pid={self.pid}," not in line or len(fields) < 4:
                continue
            here, peer = fields[2], fields[3]
            if peer.rsplit(":", 1)[0] == "127.0.0.1" and int(peer.rsplit(":", 1)[1]) in ports:
                local.append(int(here.rsplit(":", 1)[1]))
        return local

    def drop_connections(self, ports: Sequence[int]) -> list[int]:
        """Abort the daemon's connections to those loopback ports (`ss -K`: needs root and a
        kernel with SOCK_DESTROY); the peer gets a reset, as after a network failure."""
        if os.geteuid() != 0:
            raise PermissionError("ss -K needs root")
        local = self.sockets_to(ports)
        if local:
            expr = " or ".join(f"sport = :{p}" for p in local)
            subprocess.run(
                ["ss", "-K", "-tnH", "state", "established", "dst", "127.0.0.1", f"( {expr} )"],
                capture_output=True,
                check=True,
                timeout=10,
            )
        return local


@contextmanager
def paused(daemon: DaemonProcess) -> Iterator[None]:
    """Stopped for the body of the block, resumed whatever happens in it."""
    daemon.pause()
    try:
        yield
    finally:
        daemon.resume()
