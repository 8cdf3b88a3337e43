"""The packet capture of `callctl debug on --capture`: tcpdump, bounded in time and size.

Two tcpdump processes watch UDP on Asterisk's RTP port range (STUN, TURN, DTLS, RTP, RTCP
all arrive there):

- `signal`: packets whose first payload byte is below 0x40 (STUN 0x00-0x03, DTLS 0x14-0x3F;
  RFC 7983's demultiplexing), kept whole;
- `media`: the rest (RTP/RTCP 0x80-0xBF, TURN ChannelData 0x40-0x7F), cut after the RTP
  header (`-s`, link + IPv4 + UDP + 12 bytes), so no audio is kept by default. IPv6 media
  loses its RTP header too at that length; `--capture-snaplen` changes it (0: whole).

Each writes a ring (`-C` MB per file, `-W` files) beside the debug log file. Each runs under
coreutils `timeout`, started through `setsid --fork` (a new session, and not callctl's child),
so it ends at the session's expiry by itself: when callctl, the daemon and the expiry timer
are all gone, or killed, the capture still stops.

A process is found again from its exact command line (derived from the recorded spec, never
read from a file), not from a recorded pid: a forged state file can at most stop a capture
identical to one callctl would have started.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pwd
import re
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from callctl.errors import StateError, UsageError

TCPDUMP = "/usr/bin/tcpdump"
TIMEOUT = "/usr/bin/timeout"
SETSID = "/usr/bin/setsid"
KINDS = ("signal", "media")
LINK_HEADER = 14  # Ethernet framing, as Linux shows loopback and Ethernet devices
RTP_SNAPLEN = LINK_HEADER + 20 + 8 + 12  # IPv4 + UDP + the fixed RTP header
DEFAULT_MB = 100  # per ring
RING_FILES = 5
_IFACE_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}")
_TAG_OK = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_PATH_OK = re.compile(r"/[A-Za-z0-9._/+@-]{0,1000}")


class CaptureFailed(UsageError):
    """tcpdump could not start (no such interface, no permission, no tcpdump)."""


@dataclass(frozen=True)
class CaptureRequest:
    """What `--capture` and its options asked for; the service completes it into a spec."""

    iface: str | None = None  # default: lo for a loopback AMI target, else required
    ports: tuple[int, int] | None = None  # default: rtp.conf's range, read from Asterisk
    mb: int = DEFAULT_MB  # per ring
    snaplen: int = RTP_SNAPLEN

    def check(self) -> CaptureRequest:
        if self.iface is not None and not _IFACE_OK.fullmatch(self.iface):
            raise UsageError(f"bad capture interface {self.iface!r}")
        if self.ports is not None and not 1 <= self.ports[0] <= self.ports[1] <= 65535:
            raise UsageError(f"bad capture port range {self.ports[0]}-{self.ports[1]}")
        if not RING_FILES <= self.mb <= 100_000:
            raise UsageError(f"--capture-mb {self.mb} is out of range ({RING_FILES}-100000)")
        if not (self.snaplen == 0 or 16 <= self.snaplen <= 262_144):
            raise UsageError(f"--capture-snaplen {self.snaplen}: use 0 (whole) or 16-262144")
        return self


def parse_ports(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"([0-9]{1,5})-([0-9]{1,5})", text)
    if not m:
        raise UsageError(f"bad port range {text!r}", hint="LOW-HIGH, e.g. 10000-20000")
    return int(m.group(1)), int(m.group(2))


def default_iface(ami_host: str) -> str | None:
    return "lo" if ami_host in ("localhost", "::1") or ami_host.startswith("127.") else None


@dataclass(frozen=True)
class CaptureSpec:
    """Everything the two tcpdump command lines are made from."""

    iface: str
    port_lo: int
    port_hi: int
    directory: str  # beside the debug log file
    stem: str  # the debug channel's name
    tag: str  # UTC start time: each start (and each extension) writes new files
    seconds: int  # until the session's expiry
    file_mb: int
    files: int
    snaplen: int  # for the media ring; 0 = whole packets
    user: str | None  # tcpdump -Z (root drops to the capture folder's owner)

    def check(self) -> CaptureSpec:
        if not _IFACE_OK.fullmatch(self.iface):
            raise StateError(f"capture interface {self.iface!r} is not an interface name")
        if not 1 <= self.port_lo <= self.port_hi <= 65535:
            raise StateError(f"capture ports {self.port_lo}-{self.port_hi} are not a range")
        if not _PATH_OK.fullmatch(self.directory) or "/../" in self.directory + "/":
            raise StateError(f"capture folder {self.directory!r} is not a plain absolute path")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.stem):
            raise StateError(f"capture name {self.stem!r} is not a channel name")
        if not _TAG_OK.fullmatch(self.tag):
            raise StateError(f"capture tag {self.tag!r} is not a UTC time stamp")
        if not 1 <= self.seconds <= 4 * 3600 + 60:
            raise StateError(f"capture duration {self.seconds} s is out of range")
        if not (1 <= self.file_mb <= 10_000 and 1 <= self.files <= 100):
            raise StateError("capture ring size is out of range")
        if not (self.snaplen == 0 or 16 <= self.snaplen <= 262_144):
            raise StateError(f"capture snap length {self.snaplen} is out of range")
        if self.user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", self.user):
            raise StateError(f"capture user {self.user!r} is not a user name")
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> CaptureSpec:
        try:
            spec = cls(
                iface=str(doc["iface"]),
                port_lo=int(doc["port_lo"]),
                port_hi=int(doc["port_hi"]),
                directory=str(doc["directory"]),
                stem=str(doc["stem"]),
                tag=str(doc["tag"]),
                seconds=int(doc["seconds"]),
                file_mb=int(doc["file_mb"]),
                files=int(doc["files"]),
                snaplen=int(doc["snaplen"]),
                user=None if doc.get("user") is None else str(doc["user"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"debug state file: bad capture record ({err})") from None
        return spec.check()

    def ring(self, kind: str) -> str:
        """The ring's base file name; tcpdump appends 0..files-1."""
        return f"{self.directory}/{self.stem}.{self.tag}.{kind}.pcap"

    def errlog(self, kind: str) -> str:
        return f"{self.directory}/{self.stem}.{self.tag}.{kind}.tcpdump.log"


def bpf_filter(spec: CaptureSpec, kind: str) -> str:
    """UDP on the port range, split by the first payload byte (RFC 7983)."""
    ports = f"udp portrange {spec.port_lo}-{spec.port_hi}"
    op = "<" if kind == "signal" else ">="
    # libpcap's udp[] indexes IPv4 only; for IPv6 (no extension headers) the payload starts
    # at ip6[48].
    v4 = f"ip and {ports} and udp[8] {op} 0x40"
    v6 = f"ip6 and ip6[6] = 17 and {ports} and ip6[48] {op} 0x40"
    return f"({v4}) or ({v6})"


def command(spec: CaptureSpec, kind: str) -> list[str]:
    """The exact argv of one capture process (also how it is found again)."""
    snap = 0 if kind == "signal" else spec.snaplen
    argv = [
        TIMEOUT,
        "--signal=INT",  # tcpdump flushes its files on SIGINT
        "--kill-after=5",
        str(spec.seconds),
        TCPDUMP,
        "-i",
        spec.iface,
        "-n",
        "-U",  # write each packet at once: a killed capture loses nothing
        "-s",
        str(snap),
        "-C",
        str(spec.file_mb),
        "-W",
        str(spec.files),
        "-w",
        spec.ring(kind),
    ]
    if spec.user is not None:
        argv += ["-Z", spec.user]
    argv.append(bpf_filter(spec, kind))
    return argv


def seconds_until(remaining_s: float) -> int:
    return max(1, math.ceil(remaining_s))


def owner_name(directory: str) -> str | None:
    """tcpdump, started as root, drops to this user (the folder's owner) before writing."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwuid(os.stat(directory).st_uid).pw_name
    except (KeyError, OSError):
        return None


# -- processes -----------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1] if raw else None


def running(spec: CaptureSpec) -> dict[str, list[int]]:
    """The pids of this spec's capture processes that still run (the `timeout` wrappers)."""
    wanted = {kind: command(spec, kind) for kind in KINDS}
    found: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        argv = _cmdline(int(entry.name))
        for kind, want in wanted.items():
            if argv == want and not _zombie(int(entry.name)):
                found[kind].append(int(entry.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


async def start(spec: CaptureSpec, ready_timeout: float = 10.0) -> None:
    """Start both captures; return once tcpdump says it is listening, or raise."""
    for tool in (TCPDUMP, TIMEOUT, SETSID):
        if not os.access(tool, os.X_OK):
            raise CaptureFailed(f"{tool} is missing", hint="apt-get install tcpdump coreutils")
    if not os.access(spec.directory, os.W_OK):
        raise CaptureFailed(
            f"cannot write capture files in {spec.directory}",
            hint="--capture needs the Asterisk log folder on this host, writable",
        )
    for kind in KINDS:
        fd = os.open(
            spec.errlog(kind), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640
        )
        try:
            # setsid forks and exits at once: the capture is nobody's child here (no zombie
            # in a long-running caller) and in its own session (no signal of ours reaches it).
            subprocess.run(
                [SETSID, "--fork", *command(spec, kind)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=fd,
                close_fds=True,
                check=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError) as err:
            await stop(spec)
            raise CaptureFailed(f"cannot start tcpdump ({kind}): {err}") from None
        finally:
            os.close(fd)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout
    waiting = set(KINDS)
    while waiting:
        alive = running(spec)
        for kind in list(waiting):
            text = _read(spec.errlog(kind))
            if "listening on" in text:
                waiting.discard(kind)
            elif (not alive[kind] and loop.time() > deadline - ready_timeout + 0.5) or (
                loop.time() > deadline
            ):
                await stop(spec)
                raise CaptureFailed(
                    f"tcpdump ({kind}) did not start: {text.strip() or 'no output'}",
                    hint=f"its log: {spec.errlog(kind)}",
                )
        if waiting:
            await asyncio.sleep(0.05)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")[-2000:]
    except OSError:
        return ""


async def stop(spec: CaptureSpec, grace: float = 5.0) -> list[str]:
    """Stop this spec's captures (SIGTERM; the process group killed after `grace`).

    Returns what could not be stopped (empty when none is left)."""
    pids = [pid for pids in running(spec).values() for pid in pids]
    for pid in pids:
        # timeout passes SIGTERM on to tcpdump, which flushes; another user's capture
        # (PermissionError) still ends by itself at expiry.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline and any(running(spec).values()):
        await asyncio.sleep(0.05)
    left = [pid for pids in running(spec).values() for pid in pids]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # its own session: the group is timeout + tcpdump
    await asyncio.sleep(0.05)
    return [
        f"capture process {pid} ({kind}) still runs (another user's?); it ends by itself at expiry"
        for kind, pids in running(spec).items()
        for pid in pids
    ]


def files(spec: CaptureSpec) -> list[str]:
    """The ring files written so far."""
    out: list[str] = []
    for kind in KINDS:
        base = Path(spec.ring(kind))
        out += sorted(str(p) for p in base.parent.glob(base.name + "*") if p.is_file())
    return out
