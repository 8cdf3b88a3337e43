"""A private test network: one network namespace joined to the root namespace by a veth pair.

Asterisk stays in the root namespace (its AMI/ARI/HTTP stay on 127.0.0.1) and owns the
root end of the veth; the Jingle client's media sockets live in the namespace. Asterisk never
offers 127/8 ICE candidates and answers from 127.0.0.1 when a peer uses 127/8, so the media
path must use these private addresses instead. The namespace has only its /30 route (no
default route), so nothing sent from it reaches anything but the root end of its own veth.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from callctl.sandbox import netns as _pkg

# Every name this module creates starts with PREFIX and carries the creator's pid, so a later
# run can tell its own leftovers (creator dead) from a concurrent run's (creator alive).
PREFIX = "cjr"
# 10.213.0.0/16 is carved into /30s, one per rig; it must not overlap any route of the machine.
# The pool, its lock and the free-range check are the sandbox's (callctl.sandbox.netns), so a
# rig and a `sandbox up --jingle` never take the same /30.
POOL = _pkg.POOL
_LOCK_PATH = _pkg.LOCK_PATH
_CMD_TIMEOUT = 10.0
_NAME_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_LINK_RE = re.compile(rf"^{PREFIX}(\d+)[hn](\d+)(?:@\S+)?$")


class NetnsError(RuntimeError):
    """An `ip` command failed or the address pool is unusable."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=_CMD_TIMEOUT, check=False
    )
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete namespaces and links of ours whose creating process is gone; return their names."""
    removed: list[str] = []
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NAME_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _ip("netns", "delete", name, check=False)
            removed.append(name)
    # A crash between `link add` and `link set netns` leaves both veth ends in the root.
    for line in _ip("-o", "link", "show").stdout.splitlines():
        fields = line.split(":")
        if len(fields) < 2:
            continue
        link = fields[1].strip()
        match = _LINK_RE.match(link)
        if match and not _pid_alive(int(match.group(1))):
            _ip("link", "delete", link.split("@")[0], check=False)
            removed.append(link)
    return removed


def _used_networks() -> list[ipaddress.IPv4Network]:
    return _pkg.used_networks()


def _pick_subnet(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    try:
        return _pkg.pick_subnet(used)
    except _pkg.NetnsError as exc:
        raise NetnsError(exc.message) from None


@dataclass(frozen=True)
class RigNet:
    """One rig network. `host_addr` is on the root end (Asterisk), `ns_addr` in the namespace."""

    name: str
    host_link: str
    ns_link: str
    subnet: ipaddress.IPv4Network
    host_addr: str
    ns_addr: str

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address) in self.subnet
        except ValueError:
            return False

    def udp_socket(self, port: int = 0) -> socket.socket:
        """A non-blocking UDP socket bound to `ns_addr` inside the namespace (created by a
        short-lived thread that enters it: `callctl.sandbox.netns.udp_socket_in`)."""
        return _pkg.udp_socket_in(self.name, self.ns_addr, port)

    def ns_run(self, *argv: str, timeout: float = _CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace (diagnostics, tests of the rig itself)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


_counter = 0
_counter_lock = threading.Lock()


def create() -> RigNet:
    """Create a namespace and veth pair with a fresh /30 from POOL."""
    global _counter
    with _counter_lock:
        _counter += 1
        serial = _counter
    pid = os.getpid()
    name = f"{PREFIX}-{pid}-{serial}"
    host_link, ns_link = f"{PREFIX}{pid}h{serial}", f"{PREFIX}{pid}n{serial}"
    if len(host_link) > 15:  # IFNAMSIZ - 1
        raise NetnsError(f"link name too long: {host_link}")
    # The lock makes pick-then-assign atomic against concurrent runs on this machine.
    with _LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = _pick_subnet(_used_networks())
        host_addr, ns_addr = (str(a) for a in list(subnet.hosts())[:2])
        net = RigNet(name, host_link, ns_link, subnet, host_addr, ns_addr)
        try:
            _ip("netns", "add", name)
            _ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link)
            _ip("link", "set", ns_link, "netns", name)
            # IPv4 only: no link-local IPv6 candidates leak into the test.
            _sysctl(f"net/ipv6/conf/{host_link}/disable_ipv6", "1")
            _ip("addr", "add", f"{host_addr}/{subnet.prefixlen}", "dev", host_link)
            _ip("link", "set", host_link, "up")
            ns = ("-n", name)
            _ip(*ns, "link", "set", "lo", "up")
            _ip(*ns, "addr", "add", f"{ns_addr}/{subnet.prefixlen}", "dev", ns_link)
            _ip(*ns, "link", "set", ns_link, "up")
        except BaseException:
            destroy(net)
            raise
    _disable_ns_ipv6(net)
    return net


def _sysctl(key: str, value: str) -> None:
    path = Path("/proc/sys") / key
    if path.exists():
        path.write_text(value)


def _disable_ns_ipv6(net: RigNet) -> None:
    proc = net.ns_run("sysctl", "-qw", f"net.ipv6.conf.{net.ns_link}.disable_ipv6=1")
    if proc.returncode != 0:
        raise NetnsError(f"disabling IPv6 in {net.name}: {proc.stderr.strip()}")


def destroy(net: RigNet) -> None:
    """Delete the namespace (which deletes the veth pair); tolerate partial creation."""
    _ip("netns", "delete", net.name, check=False)
    _ip("link", "delete", net.host_link, check=False)


def exists(net: RigNet) -> bool:
    return net.name in {
        line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.split()
    }


@contextlib.contextmanager
def rig_network() -> Iterator[RigNet]:
    """Stale cleanup, then one rig network for the duration of the block."""
    remove_stale()
    net = create()
    try:
        yield net
    finally:
        destroy(net)
