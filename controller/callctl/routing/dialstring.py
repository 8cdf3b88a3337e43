"""The only place dial strings are built, each once, as a typed `DialTarget`.

Each builder re-checks its inputs against the strict forms even though the config loader and
the number normaliser already did: a dial string is where a stray "&", "/", "," or "${" would
become a second destination, another endpoint, a Dial option or a variable expansion.
"""

from __future__ import annotations

from dataclasses import dataclass

from callctl.routing.names import NAME_RE, canonical_jid
from callctl.routing.numbers import is_e164


@dataclass(frozen=True)
class DialTarget:
    """Where one leg rings: `label` names it (the trunk, the JID) for logs and `callctl
    calls`; `dial_string` is what Dial()/ARI get. Made only by the builders below."""

    label: str
    dial_string: str


class UnsafeDialString(ValueError):
    """A builder was handed something outside the strict forms (a bug upstream)."""


def pjsip(number: str, trunk: str) -> str:
    """`PJSIP/+15551234567@carrier-a`: the number as the request user, to the trunk endpoint."""
    if not is_e164(number):
        raise UnsafeDialString(f"not an E.164 number: {number!r}")
    if NAME_RE.fullmatch(trunk) is None:
        raise UnsafeDialString(f"not a valid trunk name: {trunk!r}")
    return f"PJSIP/{number}@{trunk}"


def motif(endpoint: str, jid: str) -> str:
    """`Motif/xmpp-gw/alice@example.org[/resource]`: chan_motif endpoint, then the target JID."""
    if NAME_RE.fullmatch(endpoint) is None:
        raise UnsafeDialString(f"not a valid Motif endpoint name: {endpoint!r}")
    if canonical_jid(jid, allow_resource=True) != jid:
        raise UnsafeDialString(f"not a canonical JID: {jid!r}")
    return f"Motif/{endpoint}/{jid}"


def pjsip_endpoint(endpoint: str) -> str:
    """`PJSIP/ph-a`: a SIP endpoint of this Asterisk (a phone standing in for a JID)."""
    if NAME_RE.fullmatch(endpoint) is None:
        raise UnsafeDialString(f"not a valid endpoint name: {endpoint!r}")
    return f"PJSIP/{endpoint}"


def trunk_target(number: str, trunk: str) -> DialTarget:
    return DialTarget(trunk, pjsip(number, trunk))


def jid_target(endpoint: str, jid: str) -> DialTarget:
    return DialTarget(jid, motif(endpoint, jid))


def endpoint_target(jid: str, endpoint: str) -> DialTarget:
    """Ring `jid` at a SIP endpoint instead of over Jingle (`callctl run --standin`)."""
    return DialTarget(jid, pjsip_endpoint(endpoint))
