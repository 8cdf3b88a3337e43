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
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
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


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip ARGS`; NetnsError when it fails (unless `check=False`)."""
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


def ns_exec(
    namespace: str,
    *argv: str,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = _CMD_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside `namespace` (`ip netns exec`); NetnsError when it fails."""
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} in {namespace}: {proc.stderr.strip()}")
    return proc


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (names carrying a dead creator's pid are leftovers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(name_re: re.Pattern[str], link_re: re.Pattern[str]) -> list[str]:
    """Delete namespaces matching `name_re` and links matching `link_re` whose creator (the
    pid in group 1) is gone; never those of a live process. Returns what was deleted."""
    removed: list[str] = []
    for line in run_ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = name_re.match(name)
        if match and not pid_alive(int(match.group(1))):
            run_ip("netns", "delete", name, check=False)
            removed.append(name)
    # A crash between `link add` and `link set netns` leaves both veth ends in the root.
    for line in run_ip("-o", "link", "show").stdout.splitlines():
        fields = line.split(":")
        if len(fields) < 2:
            continue
        link = fields[1].strip()
        match = link_re.match(link)
        if match and not pid_alive(int(match.group(1))):
            run_ip("link", "delete", link.split("@")[0], check=False)
            removed.append(link)
    return removed


def used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in run_ip("-4", "-o", "addr", "show").stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            nets.append(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network)
    for line in run_ip("-4", "route", "show", "table", "all").stdout.splitlines():
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


@contextlib.contextmanager
def claimed_subnet(
    pool: ipaddress.IPv4Network = POOL, lock_path: Path = LOCK_PATH
) -> Iterator[ipaddress.IPv4Network]:
    """The first free /30 of `pool`, held under `lock_path`'s lock for the block: assign it
    (an address or a route) inside the block, so the next caller sees it used."""
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield pick_subnet(used_networks(), pool)


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
    """A non-blocking UDP socket bound to `address` inside the named namespace."""
    return ns_socket(namespace, socket.SOCK_DGRAM, (address, port))


def ns_socket(
    namespace: str, sock_type: int = socket.SOCK_DGRAM, bind: tuple[str, int] | None = None
) -> socket.socket:
    """A non-blocking IPv4 socket of `sock_type` created inside `namespace` (bound to `bind`).

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
            sock = socket.socket(socket.AF_INET, sock_type)
            if bind is not None:
                sock.bind(bind)
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


def add_veth(
    name: str,
    host_link: str,
    ns_link: str,
    subnet: ipaddress.IPv4Network,
    *,
    host_ns: str | None = None,
) -> tuple[str, str]:
    """A new namespace `name` joined by a veth pair: `host_link` (the subnet's first address)
    in the root namespace, or in `host_ns`; `ns_link` (the second) in `name`. Both up, IPv4
    only (no link-local IPv6 candidates). Returns (host address, namespace address). On a
    failure what it made is deleted again (the veth goes with the namespace)."""
    try:
        return _add_veth(name, host_link, ns_link, subnet, host_ns)
    except BaseException:
        run_ip("netns", "delete", name, check=False)
        run_ip("link", "delete", host_link, check=False)
        raise


def _add_veth(
    name: str, host_link: str, ns_link: str, subnet: ipaddress.IPv4Network, host_ns: str | None
) -> tuple[str, str]:
    host_addr, ns_addr = (str(a) for a in list(subnet.hosts())[:2])
    prefix = subnet.prefixlen
    run_ip("netns", "add", name)
    run_ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link)
    run_ip("link", "set", ns_link, "netns", name)
    host = ("-n", host_ns) if host_ns else ()
    if host_ns:
        run_ip("link", "set", host_link, "netns", host_ns)
    run_ip(*host, "addr", "add", f"{host_addr}/{prefix}", "dev", host_link)
    run_ip(*host, "link", "set", host_link, "up")
    ns = ("-n", name)
    run_ip(*ns, "link", "set", "lo", "up")
    run_ip(*ns, "addr", "add", f"{ns_addr}/{prefix}", "dev", ns_link)
    run_ip(*ns, "link", "set", ns_link, "up")
    for where, link in ((host_ns, host_link), (name, ns_link)):
        key = f"net.ipv6.conf.{link}.disable_ipv6=1"
        if where:
            ns_exec(where, "sysctl", "-qw", key, check=False)
        else:
            _sysctl(f"net/ipv6/conf/{link}/disable_ipv6")
    return host_addr, ns_addr


def names_for(sandbox: str) -> tuple[str, str, str]:
    """Namespace and link names of a sandbox (links: 15 characters at most, IFNAMSIZ)."""
    tag = hashlib.sha256(sandbox.encode()).hexdigest()[:8]
    return f"callctl-sb-{sandbox}", f"csb{tag}h", f"csb{tag}n"


def exists(name: str) -> bool:
    return name in {
        line.split()[0] for line in run_ip("netns", "list").stdout.splitlines() if line.split()
    }


def create(sandbox: str) -> MediaNet:
    name, host_link, ns_link = names_for(sandbox)
    if exists(name):
        raise StateError(
            f"network namespace {name} already exists",
            hint=f"`callctl sandbox down --name {sandbox}` removes it",
        )
    with claimed_subnet() as subnet:  # pick-then-assign is atomic against the test rig
        host_addr, ns_addr = add_veth(name, host_link, ns_link, subnet)
    return MediaNet(name, host_link, ns_link, str(subnet), host_addr, ns_addr)


def _sysctl(key: str) -> None:
    path = Path("/proc/sys") / key
    if path.exists():
        path.write_text("1")


def destroy(net: MediaNet) -> None:
    """Delete the namespace (which deletes the veth pair); tolerate partial creation."""
    run_ip("netns", "delete", net.name, check=False)
    run_ip("link", "delete", net.host_link, check=False)
