"""A NAT between the Jingle rig's client and Asterisk: three network namespaces' worth of links.

```
 root namespace              router namespace (cjr-PID-N)          client namespace (cnt-PID-N)
 Asterisk, coturn            nftables: the NAT kind                 the Jingle client's media
 wan.host_addr ── veth /30 ── wan.ns_addr  lan.host_addr ── veth /30 ── lan.ns_addr
 (10.213.x.1, "public")      (10.213.x.2, the NAT's public side)    (10.214.y.2, private)
```

The WAN half is the Jingle rig's own network (`support.jingle.netns.create()`), so Asterisk's
configs (`asterisk_conf.configs(wan, ...)`) are the rig's unchanged; its namespace becomes the
router. The LAN half is a second veth into a namespace of our own, from POOL. The root
namespace gets one route, the LAN /30 via the router: Asterisk's checks to the client's private
candidates then reach the router and die there, as they do on the Internet, instead of
following the machine's default route. The route goes with the veth when the router namespace
is deleted.

The NAT kind is an nftables ruleset in the router namespace (`rules()`); `set_kind()` swaps it
between calls. Mappings of earlier calls may linger in conntrack, but every call's client
sockets are new ephemeral ports, so no call meets another's mapping.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from callctl.sandbox import netns as sandbox_netns

from support.jingle import netns
from support.jingle.netns import NetnsError, RigNet

PREFIX = "cnt"  # client namespaces and LAN links: cnt-PID-N, cntPIDrN / cntPIDcN
POOL = ipaddress.IPv4Network("10.214.0.0/16")
_LOCK_PATH = Path("/tmp/callctl-nat-netns.lock")
_NAME_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_LINK_RE = re.compile(rf"^{PREFIX}(\d+)[rc](\d+)(?:@\S+)?$")
TURN_PORT = 3478  # coturn's listening port on wan.host_addr (UDP and TCP)

# port-restricted: endpoint-independent mapping (Linux SNAT keeps the source port when it is
#   free, so one private port maps to one public port whatever the destination), address-and-
#   port-dependent filtering (only replies to a conntrack entry come in): a home router.
# symmetric: address-and-port-dependent mapping: every new flow a random public port.
# udp-blocked: no UDP leaves at all; TCP only to the TURN server's port (a corporate firewall).
KINDS = ("port-restricted", "symmetric", "udp-blocked")
# asterisk-1to1: the other way round. The client's side is the Internet (no NAT for it);
#   Asterisk (wan.host_addr) is private behind a 1:1 NAT whose public address is the router's
#   LAN-side address (lan.host_addr): everything to it goes to Asterisk, everything from
#   Asterisk leaves as it, and Asterisk's private address is unreachable from the client.
ASTERISK_1TO1 = "asterisk-1to1"


def rules(
    kind: str,
    *,
    wan_if: str,
    lan_if: str,
    public: str,
    turn: str,
    web_ports: tuple[int, ...] = (),
) -> str:
    """The router namespace's whole nftables ruleset for one NAT kind (pure). For the client
    NATs `public` is the NAT's address on the WAN side; for ASTERISK_1TO1 it is Asterisk's
    public address on the LAN side and `turn` is Asterisk's private address. `web_ports`: TCP
    ports on `turn`'s host that udp-blocked lets out too (a firewall that lets the web out:
    a browser's WebSocket to its XMPP server)."""
    if kind == ASTERISK_1TO1:
        return _one_to_one(wan_if=wan_if, lan_if=lan_if, public=public, private=turn)
    if kind not in KINDS:
        known = ", ".join((*KINDS, ASTERISK_1TO1))
        raise ValueError(f"unknown NAT kind {kind!r} (known: {known})")
    snat = f"snat to {public}" + (" fully-random" if kind == "symmetric" else "")
    if kind == "udp-blocked":
        ports = ", ".join(str(p) for p in (TURN_PORT, *web_ports))
        dport = f"{{ {ports} }}" if web_ports else ports
        outbound = f'iifname "{lan_if}" oifname "{wan_if}" ip daddr {turn} tcp dport {dport} accept'
    else:
        outbound = f'iifname "{lan_if}" oifname "{wan_if}" accept'
    return (
        "flush ruleset\n"
        "table ip callctl_nat {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "{wan_if}" {snat}\n'
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        f"    {outbound}\n"
        f'    iifname "{wan_if}" oifname "{lan_if}" ct state established,related accept\n'
        "  }\n"
        # Unsolicited packets to the public address die silently (no ICMP back), as on a
        # home router; the router itself serves nothing.
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        "  }\n"
        "}\n"
    )


def _one_to_one(*, wan_if: str, lan_if: str, public: str, private: str) -> str:
    return (
        "flush ruleset\n"
        "table ip callctl_nat {\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f'    iifname "{lan_if}" ip daddr {public} dnat to {private}\n'
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "{lan_if}" ip saddr {private} snat to {public}\n'
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        # In from the Internet only through the public address (DNAT'd): the private one
        # is not routable out there.
        f'    iifname "{lan_if}" oifname "{wan_if}" ct status dnat accept\n'
        # ... and replies to what Asterisk sent first (its checks: SNAT, not DNAT).
        f'    iifname "{lan_if}" oifname "{wan_if}" ct state established,related accept\n'
        f'    iifname "{wan_if}" oifname "{lan_if}" accept\n'
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        "  }\n"
        "}\n"
    )


def remove_stale() -> list[str]:
    """Delete client namespaces and LAN links of ours whose creating process is gone (and the
    rig's, which include the router namespaces)."""
    return netns.remove_stale() + sandbox_netns.remove_stale(_NAME_RE, _LINK_RE)


def pick_lan(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /30 of POOL that overlaps nothing in `used` (the sandbox's rule, this pool)."""
    return sandbox_netns.pick_subnet(used, POOL)


_ip = sandbox_netns.run_ip


@dataclass(frozen=True)
class NatNet:
    """`wan`: the rig network (Asterisk at wan.host_addr, the NAT's public address at
    wan.ns_addr, in the router namespace wan.name). `lan`: router (lan.host_addr) to client
    (lan.ns_addr, namespace lan.name); `lan.udp_socket()` makes the client's media sockets."""

    wan: RigNet
    lan: RigNet

    @property
    def router(self) -> str:
        return self.wan.name

    @property
    def public_addr(self) -> str:
        return self.wan.ns_addr

    @property
    def asterisk_public(self) -> str:
        """Asterisk's public address under ASTERISK_1TO1 (the router's LAN-side address)."""
        return self.lan.host_addr

    def reachable(self, address: str) -> bool:
        """What a rig client may send checks to: the WAN side (Asterisk, coturn; the router
        drops what it must) and Asterisk's 1:1 public address, nothing outside the rig."""
        return self.wan.contains(address) or address == self.asterisk_public

    def set_kind(self, kind: str, web_ports: tuple[int, ...] = ()) -> None:
        """Load the NAT kind's ruleset (the mappings of earlier calls may linger; see above);
        `web_ports`: see `rules()`."""
        one_to_one = kind == ASTERISK_1TO1
        text = rules(
            kind,
            wan_if=self.wan.ns_link,
            lan_if=self.lan.host_link,
            public=self.asterisk_public if one_to_one else self.wan.ns_addr,
            turn=self.wan.host_addr,
            web_ports=web_ports,
        )
        sandbox_netns.ns_exec(self.router, "nft", "-f", "-", stdin=text)

    def client_socket(self, sock_type: int) -> socket.socket:
        """An unbound socket of `sock_type` in the client namespace (the TURN client's)."""
        return sandbox_netns.ns_socket(self.lan.name, sock_type)

    def ruleset(self) -> str:
        return sandbox_netns.ns_exec(self.router, "nft", "list", "ruleset").stdout


_counter = 0
_counter_lock = threading.Lock()


def create(kind: str = "port-restricted") -> NatNet:
    """Router namespace (the rig's WAN network), client namespace, the LAN veth, the root
    route to the LAN through the router, forwarding in the router, and `kind`'s ruleset."""
    global _counter
    with _counter_lock:
        _counter += 1
        serial = _counter
    wan = netns.create()
    pid = os.getpid()
    name = f"{PREFIX}-{pid}-{serial}"
    router_link, client_link = f"{PREFIX}{pid}r{serial}", f"{PREFIX}{pid}c{serial}"
    if len(router_link) > 15:  # IFNAMSIZ - 1
        netns.destroy(wan)
        raise NetnsError(f"link name too long: {router_link}")
    try:
        with sandbox_netns.claimed_subnet(POOL, _LOCK_PATH) as subnet:
            router_addr, client_addr = sandbox_netns.add_veth(
                name, router_link, client_link, subnet, host_ns=wan.name
            )
            # Claim the /30 in the root namespace under the lock: the route is what the next
            # run's claim sees, and what keeps Asterisk's packets to it inside the rig.
            _ip("route", "add", str(subnet), "via", wan.ns_addr, "dev", wan.host_link)
        lan = RigNet(name, router_link, client_link, subnet, router_addr, client_addr)
        sandbox_netns.ns_exec(name, "ip", "route", "add", "default", "via", router_addr)
        sandbox_netns.ns_exec(wan.name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        net = NatNet(wan, lan)
        net.set_kind(kind)
        return net
    except BaseException:
        netns.destroy(wan)  # the LAN veth's router end goes with the router namespace
        _ip("netns", "delete", name, check=False)
        raise


def destroy(net: NatNet) -> None:
    """Delete both namespaces (their veths, and with the WAN veth the root route)."""
    _ip("netns", "delete", net.lan.name, check=False)
    netns.destroy(net.wan)
    _ip("route", "delete", str(net.lan.subnet), check=False)


@contextlib.contextmanager
def nat_network(kind: str = "port-restricted") -> Iterator[NatNet]:
    """Stale cleanup, then one NAT topology for the duration of the block."""
    remove_stale()
    net = create(kind)
    try:
        yield net
    finally:
        destroy(net)
