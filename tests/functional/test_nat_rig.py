"""The NAT topologies against themselves: plain sockets, no Asterisk, no ICE.

Each kind is checked for the two properties RFC 4787 names (mapping and filtering), so that a
NAT call test that fails points at Asterisk or the client, not at the rig's router.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from callctl.turn import password_for, rest_credentials
from support.nat import topology
from support.nat.coturn import coturn
from support.nat.fixtures import ice_servers
from support.nat.ice import IceServers, NatConnection
from support.nat.topology import NatNet

Addr = tuple[str, int]


_open: list[socket.socket] = []


@pytest.fixture
def nat() -> Iterator[NatNet]:
    with topology.nat_network() as net:
        try:
            yield net
        finally:
            while _open:
                _open.pop().close()


def _public(net: NatNet, sock_type: int = socket.SOCK_DGRAM) -> socket.socket:
    sock = socket.socket(socket.AF_INET, sock_type)
    _open.append(sock)
    sock.bind((net.wan.host_addr, 0))
    sock.settimeout(0.5)
    return sock


def _client(net: NatNet) -> socket.socket:
    sock = net.lan.udp_socket()
    _open.append(sock)
    sock.setblocking(True)
    sock.settimeout(0.5)
    return sock


def _recv(sock: socket.socket) -> tuple[bytes, Addr] | None:
    try:
        data, addr = sock.recvfrom(100)
    except TimeoutError:
        return None
    return data, (addr[0], addr[1])


def _mapped(client: socket.socket, server: socket.socket) -> Addr:
    client.sendto(b"hello", server.getsockname())
    got = _recv(server)
    assert got is not None, "the client's datagram did not get through the NAT"
    return got[1]


def _gets_in(sender: socket.socket, mapping: Addr, client: socket.socket) -> bool:
    """Whether a datagram `sender` sends to the NAT's `mapping` reaches the client."""
    payload = f"from {sender.getsockname()}".encode()
    sender.sendto(payload, mapping)
    got = _recv(client)
    return got is not None and got[0] == payload


def test_port_restricted_maps_independently_of_the_endpoint_and_filters_by_address_and_port(
    nat: NatNet,
) -> None:
    nat.set_kind("port-restricted")
    a, b, stranger = _public(nat), _public(nat), _public(nat)
    client = _client(nat)
    first, second = _mapped(client, a), _mapped(client, b)
    # One private port, one public port, whatever the destination (what srflx relies on).
    assert first == second and first[0] == nat.public_addr, (first, second)
    # An endpoint the client never sent to is dropped (Asterisk's checks while ringing) ...
    assert not _gets_in(stranger, first, client)
    # ... while the endpoints it did send to get through.
    assert _gets_in(a, first, client)


def test_symmetric_maps_each_destination_to_its_own_port(nat: NatNet) -> None:
    nat.set_kind("symmetric")
    a, b = _public(nat), _public(nat)
    client = _client(nat)
    first, second = _mapped(client, a), _mapped(client, b)
    assert first[0] == second[0] == nat.public_addr
    # What the STUN server saw is not what Asterisk sees: srflx is useless, prflx works.
    assert first[1] != second[1], (first, second)
    assert not _gets_in(b, first, client), "via the wrong mapping"
    assert _gets_in(b, second, client)


def test_udp_blocked_lets_only_tcp_to_the_turn_port_out(nat: NatNet) -> None:
    nat.set_kind("udp-blocked")
    server = _public(nat)
    client = _client(nat)
    client.sendto(b"udp", server.getsockname())
    assert _recv(server) is None
    turn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _open.append(turn)
    turn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    turn.bind((nat.wan.host_addr, topology.TURN_PORT))
    turn.listen(1)
    turn.settimeout(2)
    other = _public(nat, socket.SOCK_STREAM)
    other.listen(1)
    with turn, other:
        assert _tcp_connects(nat, topology.TURN_PORT)
        assert not _tcp_connects(nat, other.getsockname()[1])


def _tcp_connects(net: NatNet, port: int) -> bool:
    """Whether a TCP connect from the client namespace to the public address gets through."""
    code = f"import socket; socket.create_connection(({net.wan.host_addr!r}, {port}), 1)"
    return net.lan.ns_run("python3", "-c", code).returncode == 0


@pytest.mark.parametrize("kind", topology.KINDS)
def test_the_clients_private_address_is_unreachable_from_asterisk(nat: NatNet, kind: str) -> None:
    nat.set_kind(kind)
    client = _client(nat)
    public = _public(nat)
    public.sendto(b"to the private address", client.getsockname())
    assert _recv(client) is None


def test_a_crashed_runs_namespaces_are_removed_and_a_live_ones_kept(nat: NatNet) -> None:
    dead = f"{topology.PREFIX}-999999999-1"
    topology._ip("netns", "add", dead)
    try:
        removed = topology.remove_stale()
        assert dead in removed
        assert nat.lan.name not in removed and nat.router not in removed
    finally:
        topology._ip("netns", "delete", dead, check=False)


async def _gather(nat: NatNet, servers: IceServers) -> tuple[NatConnection, dict[str, str]]:
    conn = NatConnection(
        servers=servers,
        ns_socket=nat.client_socket,
        ice_controlling=True,
        components=1,
        socket_factory=nat.lan.udp_socket,
    )
    await conn.gather_candidates()
    return conn, {c.type: f"{c.host}:{c.port}" for c in conn.local_candidates}


@pytest.mark.parametrize("kind", topology.KINDS)
async def test_a_client_behind_each_nat_gathers_what_it_can_from_coturn(
    nat: NatNet, kind: str
) -> None:
    """srflx is the NAT's public address (mapped by the client's own host socket); relay is
    on coturn; behind the UDP-blocking firewall only TURN over TCP gets a candidate."""
    nat.set_kind(kind)
    with coturn(nat.wan) as server:
        for transport in ("udp", "tcp"):
            servers = ice_servers(server, "alice", stun=True, turn=transport)
            conn, found = await _gather(nat, servers)
            try:
                assert found["host"].startswith(f"{nat.lan.ns_addr}:")
                if kind == "udp-blocked":
                    assert "srflx" not in found, found
                    assert ("relay" in found) == (transport == "tcp"), (found, conn.gather_errors)
                else:
                    assert found["srflx"].startswith(f"{nat.public_addr}:"), found
                    assert found["relay"].startswith(f"{nat.wan.host_addr}:"), found
            finally:
                await conn.close()


async def test_coturn_refuses_a_credential_that_expired_or_was_signed_with_another_secret(
    nat: NatNet,
) -> None:
    with coturn(nat.wan) as server:
        good = ice_servers(server, "alice", stun=False, turn="udp")
        expired_user, _ = rest_credentials(server.secret, "alice", ttl=60, now=1_000_000)
        expired = replace(
            good,
            turn_username=expired_user,
            turn_password=password_for(server.secret, expired_user),
        )
        forged = replace(good, turn_password=password_for("not the secret", good.turn_username))
        for servers, works in ((good, True), (expired, False), (forged, False)):
            conn, found = await _gather(nat, servers)
            await conn.close()
            assert ("relay" in found) == works, (servers, found, conn.gather_errors)


def test_asterisk_behind_one_to_one_nat_is_reached_only_at_its_public_address(
    nat: NatNet,
) -> None:
    nat.set_kind(topology.ASTERISK_1TO1)
    asterisk = _public(nat)  # on wan.host_addr: Asterisk's private address here
    port = asterisk.getsockname()[1]
    client = _client(nat)
    # The client (on the Internet side) reaches Asterisk at the public address, same port ...
    client.sendto(b"to the public address", (nat.asterisk_public, port))
    got = _recv(asterisk)
    assert got is not None, "nothing arrived through the 1:1 NAT"
    # ... unNATed (the client has no NAT here): its own address and port.
    assert got[1] == client.getsockname(), got
    # Asterisk's answers leave from the public address.
    asterisk.sendto(b"reply", got[1])
    back = _recv(client)
    assert back is not None and back[1] == (nat.asterisk_public, port), back
    # The private address is not routable from the Internet side.
    client.sendto(b"to the private address", (nat.wan.host_addr, port))
    assert _recv(asterisk) is None
    # When Asterisk speaks first (its checks), the client sees the public address and its
    # reply gets back in (the reply of a SNAT flow, not a DNAT one).
    other = _client(nat)
    asterisk.sendto(b"check", other.getsockname())
    got = _recv(other)
    assert got is not None and got[1] == (nat.asterisk_public, port), got
    other.sendto(b"response", got[1])
    back = _recv(asterisk)
    assert back is not None and back[0] == b"response", back


def test_a_dead_runs_turnserver_is_stopped_and_a_live_ones_kept(nat: NatNet) -> None:
    """A killed pytest leaves its turnserver running (own session). A stand-in process whose
    command line names a dead creator's config plays it; the live run's coturn is kept."""
    orphan_dir = Path(tempfile.mkdtemp(prefix="callctl-turn-999999999-"))
    conf = orphan_dir / "turnserver.conf"
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(conf)], start_new_session=True
    )
    try:
        (orphan_dir / "turnserver.pid").write_text(f"{orphan.pid}\n")
        # Popen can return before the child's exec shows in /proc (empty cmdline).
        cmdline = Path(f"/proc/{orphan.pid}/cmdline")
        for _ in range(500):
            if str(conf).encode() in cmdline.read_bytes():
                break
            time.sleep(0.01)
        assert orphan.poll() is None
        with coturn(nat.wan) as live:  # its stale cleanup runs first
            assert orphan.wait(5) is not None and not orphan_dir.exists()
            assert live.proc is not None and live.proc.poll() is None
            assert live.workdir.exists()  # a live run's directory is kept
        assert live.proc.poll() is not None and not live.workdir.exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
