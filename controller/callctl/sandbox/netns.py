"""The sandbox's media network: a network namespace joined to the root one by a veth pair.

Asterisk never offers 127/8 ICE host candidates and answers from 127.0.0.1 when a peer uses
127/8, so a Jingle call between two loopback ends has no media path; the machine's own
external address must never be used either. So a Jingle sandbox makes a /30 of its own:
Asterisk (root namespace) owns the root end, a client (the probe's media sockets, or any
program started with `ip netns exec`) lives in the namespace. The namespace has only the /30
route: nothing sent from it reaches anything but the root end of its veth.

The /30 comes from the same pool and under the same lock as the Jingle test rig's
(tests/support/jingle/netns.py), so neither ever takes the other's, and never from a range
that overlaps an address or route of the machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import ipaddress
import os
import socket
import subprocess
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from callctl.errors import CallctlError, StateError

POOL = ipaddress.IPv4Network("10.213.0.0/16")
LOCK_PATH = Path("/tmp/callctl-jingle-netns.lock")
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_CMD_TIMEOUT = 10.0


class NetnsError(CallctlError):
    """An `ip` command failed, or no /30 of the pool is free."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=_CMD_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise NetnsError("`ip` not found", hint="apt-get install iproute2") from None
    if check and proc.returncode != 0:
        raise NetnsError(
            f"ip {' '.join(args)}: {proc.stderr.strip()}",
            hint="a Jingle sandbox needs root (CAP_NET_ADMIN) for its network namespace",
        )
    return proc


def used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            nets.append(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest in ("default", "local", "broadcast", "unreachable", "prohibit", "blackhole"):
            continue
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.IPv4Network(dest, strict=False))
    return nets


def pick_subnet(
    used: list[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = POOL
) -> ipaddress.IPv4Network:
    """The first /30 of `pool` that overlaps nothing in `used`; refuse a pool the machine uses
    (the test rigs pass pools of their own)."""
    foreign = [n for n in used if n.overlaps(pool) and not n.subnet_of(pool)]
    if foreign:
        raise NetnsError(f"{pool} overlaps a network of this machine: {foreign}")
    for subnet in pool.subnets(new_prefix=30):
        if not any(subnet.overlaps(n) for n in used):
            return subnet
    raise NetnsError(f"no free /30 left in {pool}")


@dataclass(frozen=True)
class MediaNet:
    """One sandbox's namespace. `host_addr`: the root end (Asterisk); `ns_addr`: the client."""

    name: str
    host_link: str
    ns_link: str
    subnet: str
    host_addr: str
    ns_addr: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaNet:
        return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})

    def udp_socket(self, port: int = 0) -> socket.socket:
        """A non-blocking UDP socket bound to `ns_addr` inside the namespace."""
        return udp_socket_in(self.name, self.ns_addr, port)


def udp_socket_in(namespace: str, address: str, port: int = 0) -> socket.socket:
    """A non-blocking UDP socket bound to `address` inside the named namespace.

    A socket keeps the namespace it was created in, so a short-lived thread enters the
    namespace (setns changes only the calling thread), creates the socket and exits.
    """
    result: list[socket.socket | BaseException] = []

    def worker() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {namespace}: {os.strerror(err)}")
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            sock.setblocking(False)
            result.append(sock)
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=worker, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join(_CMD_TIMEOUT)
    if not result:
        raise NetnsError(f"creating a socket in {namespace} timed out")
    item = result[0]
    if isinstance(item, BaseException):
        raise item
    return item


def names_for(sandbox: str) -> tuple[str, str, str]:
    """Namespace and link names of a sandbox (links: 15 characters at most, IFNAMSIZ)."""
    tag = hashlib.sha256(sandbox.encode()).hexdigest()[:8]
    return f"callctl-sb-{sandbox}", f"csb{tag}h", f"csb{tag}n"


def exists(name: str) -> bool:
    return name in {
        line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.split()
    }


def create(sandbox: str) -> MediaNet:
    name, host_link, ns_link = names_for(sandbox)
    if exists(name):
        raise StateError(
            f"network namespace {name} already exists",
            hint=f"`callctl sandbox down --name {sandbox}` removes it",
        )
    with LOCK_PATH.open("w") as lock:  # pick-then-assign is atomic against the test rig
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = pick_subnet(used_networks())
        host_addr, ns_addr = (str(a) for a in list(subnet.hosts())[:2])
        net = MediaNet(name, host_link, ns_link, str(subnet), host_addr, ns_addr)
        try:
            _ip("netns", "add", name)
            _ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link)
            _ip("link", "set", ns_link, "netns", name)
            # IPv4 only: no link-local IPv6 candidates.
            _sysctl(f"net/ipv6/conf/{host_link}/disable_ipv6")
            _ip("addr", "add", f"{host_addr}/{subnet.prefixlen}", "dev", host_link)
            _ip("link", "set", host_link, "up")
            ns = ("-n", name)
            _ip(*ns, "link", "set", "lo", "up")
            _ip(*ns, "addr", "add", f"{ns_addr}/{subnet.prefixlen}", "dev", ns_link)
            _ip(*ns, "link", "set", ns_link, "up")
            sysctl = f"net.ipv6.conf.{ns_link}.disable_ipv6=1"
            subprocess.run(
                ["ip", "netns", "exec", name, "sysctl", "-qw", sysctl],
                capture_output=True,
                timeout=_CMD_TIMEOUT,
                check=False,
            )
        except BaseException:
            destroy(net)
            raise
    return net


def _sysctl(key: str) -> None:
    path = Path("/proc/sys") / key
    if path.exists():
        path.write_text("1")


def destroy(net: MediaNet) -> None:
    """Delete the namespace (which deletes the veth pair); tolerate partial creation."""
    _ip("netns", "delete", net.name, check=False)
    _ip("link", "delete", net.host_link, check=False)
