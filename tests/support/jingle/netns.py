"""A private test network: one network namespace joined to the root namespace by a veth pair.

Asterisk stays in the root namespace (its AMI/ARI/HTTP stay on 127.0.0.1) and owns the
root end of the veth; the Jingle client's media sockets live in the namespace. Asterisk never
offers 127/8 ICE candidates and answers from 127.0.0.1 when a peer uses 127/8, so the media
path must use these private addresses instead. The namespace has only its /30 route (no
default route), so nothing sent from it reaches anything but the root end of its own veth.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from callctl.sandbox import netns as _pkg

# Every name this module creates starts with PREFIX and carries the creator's pid, so a later
# run can tell its own leftovers (creator dead) from a concurrent run's (creator alive).
PREFIX = "cjr"
# 10.213.0.0/16 is carved into /30s, one per rig; it must not overlap any route of the machine.
# The pool, its lock and the free-range check are the sandbox's (callctl.sandbox.netns), so a
# rig and a `sandbox up --jingle` never take the same /30.
POOL = _pkg.POOL
_NAME_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_LINK_RE = re.compile(rf"^{PREFIX}(\d+)[hn](\d+)(?:@\S+)?$")


# One error type with the package's, so `except NetnsError` catches both layers.
NetnsError = _pkg.NetnsError


def remove_stale() -> list[str]:
    """Delete namespaces and links of ours whose creating process is gone; return their names."""
    return _pkg.remove_stale(_NAME_RE, _LINK_RE)


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

    def ns_run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace (diagnostics, tests of the rig itself)."""
        return _pkg.ns_exec(self.name, *argv, check=False)


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
    with _pkg.claimed_subnet() as subnet:
        host_addr, ns_addr = _pkg.add_veth(name, host_link, ns_link, subnet)
    return RigNet(name, host_link, ns_link, subnet, host_addr, ns_addr)


def destroy(net: RigNet) -> None:
    """Delete the namespace (which deletes the veth pair); tolerate partial creation."""
    _pkg.run_ip("netns", "delete", net.name, check=False)
    _pkg.run_ip("link", "delete", net.host_link, check=False)


def exists(net: RigNet) -> bool:
    return _pkg.exists(net.name)


@contextlib.contextmanager
def rig_network() -> Iterator[RigNet]:
    """Stale cleanup, then one rig network for the duration of the block."""
    remove_stale()
    net = create()
    try:
        yield net
    finally:
        destroy(net)
