"""aioice 0.13 adapted to the rig: sockets from a factory, and libwebrtc-style renomination.

aioice gathers host candidates from every interface and skips 127.0.0.1; the rig instead
binds exactly one socket per component where the factory says (inside the test namespace).
aioice is pinned (==0.13.0) because this overrides two of its methods.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from typing import Any

from aioice import Candidate as IceCandidate
from aioice import Connection, stun
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import CandidatePair, StunProtocol

from .stanzas import Candidate

# draft-thatcher-ice-renomination; libwebrtc's STUN_ATTR_NOMINATION. aioice drops unknown
# attributes when parsing and cannot build them, so register it (idempotent, module-wide).
NOMINATION_ATTR = 0xC001
NOMINATION = "NOMINATION"
if NOMINATION not in stun.ATTRIBUTES_BY_NAME:
    _entry = (NOMINATION_ATTR, NOMINATION, stun.pack_unsigned, stun.unpack_unsigned)
    stun.ATTRIBUTES_BY_TYPE[NOMINATION_ATTR] = _entry
    stun.ATTRIBUTES_BY_NAME[NOMINATION] = _entry

SocketFactory = Callable[[], socket.socket]


class RigConnection(Connection):
    """An aioice Connection whose host candidates come from `socket_factory`.

    `renomination=True` nominates with NOMINATION (0xC001, a growing 24-bit value) instead of
    USE-CANDIDATE, as libwebrtc does when both sides signal the `renomination` ice-option.
    """

    def __init__(
        self,
        *,
        ice_controlling: bool,
        components: int,
        socket_factory: SocketFactory,
        renomination: bool = False,
    ) -> None:
        super().__init__(ice_controlling=ice_controlling, components=components, use_ipv6=False)
        self._socket_factory = socket_factory
        self.renomination = renomination
        self._nomination_values = itertools.count(1)
        self.nominations_sent: list[int] = []

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[IceCandidate]:
        loop = asyncio.get_running_loop()
        sock = self._socket_factory()
        _, protocol = await loop.create_datagram_endpoint(lambda: StunProtocol(self), sock=sock)
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = IceCandidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        self._protocols.append(protocol)
        return [protocol.local_candidate]

    def build_request(self, pair: CandidatePair, nominate: bool) -> stun.Message:
        request: stun.Message = super().build_request(pair, nominate)
        if self.renomination and "USE-CANDIDATE" in request.attributes:
            del request.attributes["USE-CANDIDATE"]
            value = next(self._nomination_values) & 0xFFFFFF
            request.attributes[NOMINATION] = value
            self.nominations_sent.append(value)
        return request

    def use_components(self, count: int) -> None:
        """Shrink to the first `count` components before connect() (rtcp-mux answered):
        ICE then completes once those are nominated. aioice keeps the set in `_components`."""
        self._components = set(range(1, count + 1))

    def nominated_pairs(self) -> dict[int, Any]:
        return dict(self._nominated)

    async def next_datagram(self) -> tuple[bytes, int] | None:
        """Next non-STUN datagram, nominated or not (recvfrom() refuses before nomination,
        but media that arrives early is evidence too); None once closed."""
        item: tuple[bytes, int] | None = await self._queue.get()
        return item


def to_jingle(cand: IceCandidate, generation: int = 0) -> Candidate:
    return Candidate(
        component=cand.component,
        foundation=cand.foundation,
        ip=cand.host,
        port=cand.port,
        priority=cand.priority,
        type=cand.type,
        protocol=cand.transport.lower(),
        generation=generation,
        id=f"{cand.foundation}-{cand.component}",
    )


def to_aioice(cand: Candidate) -> IceCandidate:
    return IceCandidate(
        foundation=cand.foundation,
        component=cand.component,
        transport=cand.protocol,
        priority=cand.priority,
        host=cand.ip,
        port=cand.port,
        type=cand.type,
    )
