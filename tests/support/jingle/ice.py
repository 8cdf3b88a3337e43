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
from typing import Any, cast

from aioice import Candidate as IceCandidate
from aioice import Connection, stun
from aioice.ice import CandidatePair, StunProtocol

# Host candidates are built as the probe builds them (one copy).
from callctl.probe.ice import host_candidate

# draft-thatcher-ice-renomination; libwebrtc's STUN_ATTR_NOMINATION. aioice drops unknown
# attributes when parsing and cannot build them, so register it (idempotent, module-wide).
NOMINATION_ATTR = 0xC001
NOMINATION = "NOMINATION"
if NOMINATION not in stun.ATTRIBUTES_BY_NAME:
    _entry = (NOMINATION_ATTR, NOMINATION, stun.pack_unsigned, stun.unpack_unsigned)
    stun.ATTRIBUTES_BY_TYPE[NOMINATION_ATTR] = _entry
    stun.ATTRIBUTES_BY_NAME[NOMINATION] = _entry

SocketFactory = Callable[[], socket.socket]


class _CountingProtocol(StunProtocol):
    """Counts RTP/RTCP datagrams (version bits 10) per local port, then does what aioice does."""

    def datagram_received(self, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if isinstance(data, bytes) and data and data[0] >> 6 == 2:
            port = self.local_candidate.port
            counts = cast(RigConnection, self.receiver).media_by_port
            counts[port] = counts.get(port, 0) + 1
        super().datagram_received(data, addr)


class RigConnection(Connection):
    """An aioice Connection whose host candidates come from `socket_factory`.

    `renomination=True` nominates with NOMINATION (0xC001, a growing 24-bit value) instead of
    USE-CANDIDATE, as libwebrtc does when both sides signal the `renomination` ice-option.
    `host_candidates=N` gathers N host candidates per component (falling priority), and
    `nominate_host=i` lets only pairs of the i-th one carry a nomination: a peer that takes the
    highest-priority valid pair instead of the nominated one is caught out (patch 0010).
    `media_by_port` counts the RTP that arrived on each local port.
    """

    def __init__(
        self,
        *,
        ice_controlling: bool,
        components: int,
        socket_factory: SocketFactory,
        renomination: bool = False,
        host_candidates: int = 1,
        nominate_host: int | None = None,
    ) -> None:
        super().__init__(ice_controlling=ice_controlling, components=components, use_ipv6=False)
        self._socket_factory = socket_factory
        self.renomination = renomination
        self._nomination_values = itertools.count(1)
        self.nominations_sent: list[int] = []
        self.host_candidates = host_candidates
        self.nominate_host = nominate_host
        self.media_by_port: dict[int, int] = {}
        self._host_index: dict[int, int] = {}  # local port -> index of its host candidate
        self._unnominated: set[int] = set()  # ids of pairs whose nomination was withheld

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[IceCandidate]:
        loop = asyncio.get_running_loop()
        candidates = []
        for index in range(self.host_candidates):
            sock = self._socket_factory()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: _CountingProtocol(self), sock=sock
            )
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = host_candidate(component, host, port, index)
            self._host_index[port] = index
            self._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        return candidates

    def _may_nominate(self, pair: CandidatePair) -> bool:
        if self.nominate_host is None:
            return True
        return self._host_index.get(pair.local_candidate.port) == self.nominate_host

    def check_complete(self, pair: CandidatePair) -> None:
        # aioice marks a pair nominated when it asked for it; undo that where the nomination
        # was withheld, so only the chosen pair completes ICE (and carries our media).
        if id(pair) in self._unnominated and not pair.remote_nominated:
            pair.nominated = False
        super().check_complete(pair)

    def build_request(self, pair: CandidatePair, nominate: bool) -> stun.Message:
        request: stun.Message = super().build_request(pair, nominate)
        if "USE-CANDIDATE" in request.attributes and not self._may_nominate(pair):
            del request.attributes["USE-CANDIDATE"]
            self._unnominated.add(id(pair))
            return request
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
