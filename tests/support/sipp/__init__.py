"""SIPp as the real phone side of tests: carrier (UAS) and caller (UAC) scenarios.

Each run works in its own folder, quits by itself (`-m` calls, `-timeout`), and reports the
final statistics from SIPp's own `-trace_stat` CSV.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
# SIPp 3.6.1 shows this on its scenario screen while its media socket is open (`-rtp_echo`);
# SIGUSR2 appends the current screen to the -screen_file.
_ECHOED = re.compile(r"(\d+) Total echo RTP pckts 1st stream")


@dataclass
class SippResult:
    returncode: int
    stats: dict[str, str]
    log: str

    @property
    def successful(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)", 0))

    @property
    def failed(self) -> int:
        return int(self.stats.get("FailedCall(C)", 0))


@dataclass
class Sipp:
    scenario: str  # file name in scenarios/, e.g. "uas_answer.xml"
    local_ip: str
    local_port: int
    workdir: Path
    remote: str | None = None  # "host:port" for a UAC
    service: str = "s"  # request-URI user (the dialled extension) for a UAC
    calls: int = 1
    pause_ms: int = 0
    rate: float | None = None  # calls per second for a UAC
    timeout_s: int = 60
    media_port: int | None = None
    rtp_echo: bool = False
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        name = Path(self.scenario).stem
        cmd = [
            SIPP,
            "-sf",
            str(SCENARIOS / self.scenario),
            "-i",
            self.local_ip,
            "-p",
            str(self.local_port),
            "-m",
            str(self.calls),
            "-d",
            str(self.pause_ms),
            "-timeout",
            f"{self.timeout_s}s",
            "-timeout_error",
            "-nostdin",
            "-bind_local",
            "-trace_stat",
            "-stf",
            str(self.workdir / f"{name}.csv"),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(self.workdir / f"{name}.errors.log"),
            "-trace_screen",
            "-screen_file",
            str(self.workdir / f"{name}.screen.log"),
            "-s",
            self.service,
        ]
        if self.rate is not None:
            cmd += ["-r", str(self.rate)]
        if self.media_port is not None:
            cmd += ["-mi", self.local_ip, "-mp", str(self.media_port)]
        if self.rtp_echo:
            cmd.append("-rtp_echo")
        cmd += self.extra
        if self.remote:
            cmd.append(self.remote)
        return cmd

    def start(self) -> Sipp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"{Path(self.scenario).stem}.out").open("wb")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def wait(self, timeout: float | None = None) -> SippResult:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout if timeout is not None else self.timeout_s + 10)
        except subprocess.TimeoutExpired:
            self.stop()
            rc = self.proc.wait()
        return self.result(rc)

    def dump_screen(self) -> bool:
        """Ask SIPp (SIGUSR2) to append its current screen to the -screen_file; with
        `-rtp_echo` that screen has the echo counter while the media socket is open (while the
        call is up; the final screen after the last call has no RTP lines). SIPp writes the
        file buffered: read it with `echoed()` once SIPp has exited."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGUSR2)
        return True

    def echoed(self) -> int | None:
        """The last echo count SIPp showed (`dump_screen`), once it has exited; else None."""
        if self.proc is None or self.proc.poll() is None:
            return None
        path = self.workdir / f"{Path(self.scenario).stem}.screen.log"
        found = _ECHOED.findall(path.read_text(errors="replace")) if path.exists() else []
        return int(found[-1]) if found else None

    def stop(self) -> None:
        """Stop at once (SIGUSR1 asks SIPp to quit; then terminate)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGUSR1)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def result(self, rc: int) -> SippResult:
        name = Path(self.scenario).stem
        stats: dict[str, str] = {}
        path = self.workdir / f"{name}.csv"
        if path.is_file():
            with path.open() as f:
                rows = list(csv.reader(f, delimiter=";"))
            if len(rows) >= 2:
                stats = dict(zip(rows[0], rows[-1], strict=False))
        texts = []
        for suffix in (".out", ".errors.log", ".screen.log"):
            p = self.workdir / f"{name}{suffix}"
            if p.is_file():
                texts.append(p.read_text(errors="replace")[-3000:])
        return SippResult(rc, stats, "\n".join(texts))

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_uac(**kwargs: object) -> SippResult:
    """Run a caller scenario to completion."""
    sipp = Sipp(**kwargs)  # type: ignore[arg-type]
    sipp.start()
    return sipp.wait()
