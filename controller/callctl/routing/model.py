"""The validated routing configuration. Every value here has passed the loader's checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from callctl.routing.numbers import NumberingPlan
from callctl.routing.patterns import Pattern


class RingMode(StrEnum):
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class Route:
    name: str
    patterns: tuple[Pattern, ...]
    trunks: tuple[str, ...]  # PJSIP endpoint names, in the order they are tried
    line: int = 0


@dataclass(frozen=True)
class Caller:
    jid: str  # canonical bare JID
    caller_id: str  # E.164
    max_concurrent_calls: int | None = None
    line: int = 0
    # PLAR: the E.164 number a call from this JID goes to when it carries no dialled number
    # (chan_motif never passes the number a Jingle client dialled).
    hotline: str | None = None


@dataclass(frozen=True)
class Did:
    number: str  # E.164
    jids: tuple[str, ...]  # canonical JIDs, bare or full; rung in this order if sequential
    ring: RingMode = RingMode.PARALLEL
    ring_timeout: int | None = None
    line: int = 0


@dataclass(frozen=True)
class Policy:
    allowed: tuple[Pattern, ...]
    denied: tuple[Pattern, ...] = ()
    max_concurrent_calls_per_caller: int = 2
    ring_timeout: int = 45


@dataclass(frozen=True)
class GatewaySettings:
    """callctl's XMPP component (callctl.xmppgw): number JIDs on `domain`."""

    domain: str  # the component's domain, e.g. gw.example.org
    asterisk_jid: str  # res_xmpp's full JID: chan_motif's side of every relayed call
    dtls: bool = False  # the Motif endpoint offers DTLS-SRTP (advertised in disco#info)
    line: int = 0


@dataclass(frozen=True)
class RoutingConfig:
    numbering: NumberingPlan
    trunks: tuple[str, ...]  # primary first, then the fallbacks in order
    routes: tuple[Route, ...]
    motif_endpoint: str
    policy: Policy
    # Read-only views: a loaded config is shared by every call and never changes under it.
    callers: Mapping[str, Caller] = field(default_factory=dict)  # by canonical bare JID
    dids: Mapping[str, Did] = field(default_factory=dict)  # by E.164 number
    gateway: GatewaySettings | None = None  # number JIDs through callctl's XMPP component

    @property
    def primary_trunk(self) -> str:
        return self.trunks[0]
