"""Packet captures of the rig's media (tcpdump) and the STUN attributes in them (tshark).

Both are Debian's (scripts/install-deps.sh). tshark is an independent decoder: what it reads
from the wire is the proof, not what either end logged about itself.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
USE_CANDIDATE = 0x0025
ICE_CONTROLLING = 0x802A
NOMINATION = 0xC001  # the renomination draft's attribute as libwebrtc sends it (GOOG)
NOMINATION_2026 = 0x0030  # draft-thatcher-tsvwg-renomination's assignment


class CaptureError(RuntimeError):
    pass


@contextlib.contextmanager
def tcpdump(path: Path, interface: str, netns: str | None = None) -> Iterator[Path]:
    """Capture UDP on `interface` (in `netns` if given) to `path` while the block runs."""
    cmd = ["tcpdump", "-i", interface, "-n", "-U", "-w", str(path), "udp"]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + START_TIMEOUT
    while b"listening on" not in seen:  # tcpdump says so once the socket is open
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            raise CaptureError(f"tcpdump did not start: {seen.decode(errors='replace')}")
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
    try:
        yield path
    finally:
        proc.send_signal(signal.SIGINT)  # flushes and closes the file
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            proc.stderr.close()


@dataclass(frozen=True)
class BindingRequest:
    src: str
    dst: str
    attributes: tuple[int, ...]

    @property
    def use_candidate(self) -> bool:
        return USE_CANDIDATE in self.attributes

    @property
    def controlling(self) -> bool:
        return ICE_CONTROLLING in self.attributes

    @property
    def nomination(self) -> bool:
        return NOMINATION in self.attributes or NOMINATION_2026 in self.attributes


def binding_requests(path: Path) -> list[BindingRequest]:
    """Every STUN Binding request in the capture, with its attribute types (tshark)."""
    proc = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-d",
            "udp.port==1-65535,stun",  # media ports are random: decode any UDP as STUN
            "-Y",
            "stun.type == 0x0001",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "stun.att.type",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise CaptureError(f"tshark: {proc.stderr.strip()}")
    found = []
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) < 5:
            continue
        types = tuple(int(t, 16) for t in fields[4].split(",") if t)
        found.append(BindingRequest(f"{fields[0]}:{fields[1]}", f"{fields[2]}:{fields[3]}", types))
    return found


def nominations(requests: list[BindingRequest], src_ip: str | None = None) -> dict[str, int]:
    """How the controlling agent (from `src_ip`, if given) nominated: its Binding requests
    with NOMINATION, with USE-CANDIDATE, and in all."""
    mine = [
        r
        for r in requests
        if r.controlling and (src_ip is None or r.src.rsplit(":", 1)[0] == src_ip)
    ]
    return {
        "requests": len(mine),
        "nomination": sum(r.nomination for r in mine),
        "use_candidate": sum(r.use_candidate for r in mine),
    }
