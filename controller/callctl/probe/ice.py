"""aioice glue shared by the probe and the Jingle test rig (tests/support/jingle/ice.py):
host candidates on sockets bound where a factory says, and candidates converted between
aioice and Jingle."""

from __future__ import annotations

from aioice import Candidate as IceCandidate
from aioice.candidate import candidate_foundation, candidate_priority

from callctl.probe.jingle import Candidate


def host_candidate(component: int, host: str, port: int, index: int = 0) -> IceCandidate:
    """The host candidate of a bound socket; the `index`-th extra one of a component gets a
    local preference lower by `index` (RFC 8445 5.1.2.1)."""
    priority = candidate_priority(component, "host") - (index << 8)
    foundation = candidate_foundation("host", "udp", host)
    return IceCandidate(foundation, component, "udp", priority, host, port, "host")


def to_aioice(c: Candidate) -> IceCandidate:
    return IceCandidate(c.foundation, c.component, c.protocol, c.priority, c.ip, c.port, c.type)


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
