"""The only place dial strings are built.

Each builder re-checks its inputs against the strict forms even though the config loader and
the number normaliser already did: a dial string is where a stray "&", "/", "," or "${" would
become a second destination, another endpoint, a Dial option or a variable expansion.
"""

from __future__ import annotations

from callctl.routing.names import NAME_RE, canonical_jid
from callctl.routing.numbers import is_e164


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
