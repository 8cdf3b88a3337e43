"""The rig client's ICE with STUN and TURN, every socket inside the client namespace.

`RigConnection` gathers host candidates only. `NatConnection` adds what a real client behind
a NAT gathers: a server-reflexive candidate per host socket (a STUN Binding from that very
socket, so the NAT maps it) and a relayed candidate from a TURN allocation over UDP or TCP.
aioice would open its TURN socket in the pytest process's (root) namespace, so this opens it
in the client namespace and hands it to aioice's own TURN client protocols.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice import Candidate as IceCandidate
from aioice import turn
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import server_reflexive_candidate

from support.jingle.ice import RigConnection, _CountingProtocol

NsSocket = Callable[[int], socket.socket]  # socket type -> an unbound socket in the namespace
GATHER_TIMEOUT = 5.0  # aioice's own default for STUN/TURN gathering


@dataclass(frozen=True)
class IceServers:
    stun: tuple[str, int] | None = None
    turn: tuple[str, int] | None = None
    turn_username: str = ""
    turn_password: str = ""
    turn_transport: str = "udp"  # "udp" or "tcp"


class NatConnection(RigConnection):
    def __init__(self, *, servers: IceServers, ns_socket: NsSocket, **options: Any) -> None:
        super().__init__(**options)
        self.servers = servers
        self.ns_socket = ns_socket
        self.gather_errors: list[str] = []

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[IceCandidate]:
        hosts = await super().get_component_candidates(component, addresses, timeout)
        protocols = [p for p in self._protocols if p.local_candidate in hosts]
        jobs: list[asyncio.Task[IceCandidate]] = []
        if self.servers.stun is not None:
            for protocol in protocols:
                jobs.append(asyncio.ensure_future(self._srflx(protocol, self.servers.stun)))
        if self.servers.turn is not None:
            jobs.append(asyncio.ensure_future(self._relay(component, self.servers.turn)))
        extra: list[IceCandidate] = []
        if jobs:
            done, pending = await asyncio.wait(jobs, timeout=GATHER_TIMEOUT)
            for job in pending:
                job.cancel()
                self.gather_errors.append("timeout")
            for job in done:
                if job.exception() is None:
                    extra.append(job.result())
                else:
                    self.gather_errors.append(repr(job.exception()))
        return hosts + extra

    async def _srflx(self, protocol: Any, server: tuple[str, int]) -> IceCandidate:
        candidate, _ = await server_reflexive_candidate(protocol, server)
        return candidate

    async def _relay(self, component: int, server: tuple[str, int]) -> IceCandidate:
        loop = asyncio.get_running_loop()
        servers = self.servers
        options = {
            "username": servers.turn_username,
            "password": servers.turn_password,
            "lifetime": turn.DEFAULT_ALLOCATION_LIFETIME,
            "channel_refresh_time": turn.DEFAULT_CHANNEL_REFRESH_TIME,
        }
        inner: turn.TurnClientTcpProtocol | turn.TurnClientUdpProtocol
        if servers.turn_transport == "tcp":
            sock = self.ns_socket(socket.SOCK_STREAM)
            try:
                await loop.sock_connect(sock, server)
                _, inner = await loop.create_connection(
                    lambda: turn.TurnClientTcpProtocol(server, **options), sock=sock
                )
            except BaseException:
                sock.close()
                raise
        else:
            sock = self.ns_socket(socket.SOCK_DGRAM)
            sock.connect(server)
            _, inner = await loop.create_datagram_endpoint(
                lambda: turn.TurnClientUdpProtocol(server, **options), sock=sock
            )
        relay = turn.TurnTransport(inner)
        protocol = _CountingProtocol(self)
        try:
            await relay._connect(protocol)
        except BaseException:
            inner.transport.close()
            raise
        host, port = relay.get_extra_info("sockname")
        related = relay.get_extra_info("related_address")
        # aioice's field order: foundation, component, transport, priority, host, port, type,
        # related address and port.
        foundation = candidate_foundation("relay", "udp", host)
        priority = candidate_priority(component, "relay")
        fields = (foundation, component, "udp", priority, host, port, "relay", *related[:2])
        protocol.local_candidate = IceCandidate(*fields)
        self._protocols.append(protocol)
        return protocol.local_candidate


def connection_factory(servers: IceServers, ns_socket: NsSocket) -> Callable[..., RigConnection]:
    """What JingleClient(ice_factory=...) calls instead of RigConnection."""

    def make(**options: Any) -> RigConnection:
        return NatConnection(servers=servers, ns_socket=ns_socket, **options)

    return make
