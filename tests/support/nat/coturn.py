"""coturn (Debian's turnserver) as the rig's STUN and TURN server, the way operators run it:
`use-auth-secret` with time-limited REST credentials (callctl.turn), UDP and TCP on one port.

It runs in the foreground in the root namespace on the NAT's public side (`wan.host_addr`,
next to Asterisk), relays only to that /30 (`denied-peer-ip` everything, `allowed-peer-ip` the
rig), keeps its database, pid and log in a temporary directory, and is stopped by the test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from callctl.sandbox.netns import pid_alive
from callctl.turn import rest_credentials

from support.jingle.netns import RigNet

from .topology import TURN_PORT

REALM = "rig.test"
START_TIMEOUT = 10.0
# Relay ports: a slice per rig address, like the RTP range (concurrent rigs differ in address
# anyway; the slice keeps the numbers apart in captures).
RELAY_PORTS = 100
_MAGIC = 0x2112A442
_DIR_PREFIX = "callctl-turn-"  # + creator pid: a later run removes a dead run's leftovers


class CoturnError(RuntimeError):
    """turnserver did not start or answer."""


def config(wan: RigNet, workdir: Path, secret: str) -> str:
    """turnserver.conf for one rig (pure)."""
    index = (int(wan.subnet.network_address) >> 2) % 100
    low = 50000 + index * RELAY_PORTS
    return (
        f"listening-ip={wan.host_addr}\n"
        f"relay-ip={wan.host_addr}\n"
        f"listening-port={TURN_PORT}\n"
        f"min-port={low}\nmax-port={low + RELAY_PORTS - 1}\n"
        "use-auth-secret\n"
        f"static-auth-secret={secret}\n"
        f"realm={REALM}\n"
        "fingerprint\n"
        "no-tls\nno-dtls\nno-cli\nno-multicast-peers\n"
        # Relay to the rig's public /30 only, never anywhere else.
        "denied-peer-ip=0.0.0.0-255.255.255.255\n"
        f"allowed-peer-ip={wan.subnet[0]}-{wan.subnet[-1]}\n"
        f"userdb={workdir / 'turndb'}\n"
        f"pidfile={workdir / 'turnserver.pid'}\n"
        f"log-file={workdir / 'turnserver.log'}\n"
        "simple-log\nno-stdout-log\nverbose\n"
    )


@dataclass
class Coturn:
    wan: RigNet
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))
    )
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.wan.host_addr, TURN_PORT)

    def credentials(self, user: str, ttl: int = 600) -> tuple[str, str]:
        """A REST username/password for `user`, valid `ttl` seconds from now."""
        return rest_credentials(self.secret, user, ttl=ttl, now=int(time.time()))

    @property
    def log(self) -> str:
        path = self.workdir / "turnserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        conf = self.workdir / "turnserver.conf"
        conf.write_text(config(self.wan, self.workdir, self.secret))
        self.proc = subprocess.Popen(
            ["turnserver", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CoturnError(
                    f"turnserver exited ({self.proc.returncode}):\n{self.log[-2000:]}"
                )
            if stun_binding(self.address, timeout=0.2) is not None and _tcp_open(self.address):
                return
            time.sleep(0.1)
        self.stop()
        raise CoturnError(
            f"turnserver did not answer within {START_TIMEOUT} s:\n{self.log[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def stun_binding(server: tuple[str, int], timeout: float = 1.0) -> tuple[str, int] | None:
    """One STUN Binding request over UDP from the root namespace; the mapped address or None."""
    txid = secrets.token_bytes(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(struct.pack("!HHI", 0x0001, 0, _MAGIC) + txid, server)
        try:
            data, _ = sock.recvfrom(2048)
        except (TimeoutError, ConnectionRefusedError):
            return None
    if len(data) < 20 or data[:2] != b"\x01\x01" or data[8:20] != txid:
        return None
    pos = 20
    while pos + 4 <= len(data):
        kind, length = struct.unpack("!HH", data[pos : pos + 4])
        value = data[pos + 4 : pos + 4 + length]
        if kind == 0x0020 and len(value) >= 8:  # XOR-MAPPED-ADDRESS, IPv4
            port = struct.unpack("!H", value[2:4])[0] ^ (_MAGIC >> 16)
            addr = struct.unpack("!I", value[4:8])[0] ^ _MAGIC
            return socket.inet_ntoa(struct.pack("!I", addr)), port
        pos += 4 + length + (-length % 4)
    return None


def _tcp_open(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.2):
            return True
    except OSError:
        return False


def remove_stale() -> list[str]:
    """Stop the turnserver of a run whose creator died (a killed pytest leaves it running: it
    has its own session) and remove its directory; never touch a live run's."""
    removed = []
    for workdir in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*-*"):
        creator = workdir.name[len(_DIR_PREFIX) :].split("-")[0]
        if not creator.isdigit() or pid_alive(int(creator)):
            continue
        with contextlib.suppress(OSError, ValueError):
            pid = int((workdir / "turnserver.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(workdir / "turnserver.conf").encode() in cmdline:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir.name)
    return removed


@contextlib.contextmanager
def coturn(wan: RigNet) -> Iterator[Coturn]:
    """Stale cleanup, then a started coturn for the block; stopped and its directory removed
    afterwards."""
    remove_stale()
    server = Coturn(wan)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
