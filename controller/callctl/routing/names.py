"""Strict forms for everything configured that ends up inside a dial string.

Names and JIDs are checked once, at config load, against charsets that hold none of the
characters Asterisk gives meaning to in a dial string or dialplan ("&" parallel destinations,
"," and "|" option separators, "/" tech/resource split, "(" ")" option arguments, "$" "{" "}"
variable expansion, quotes, backslash, whitespace, newlines) and no non-ASCII letters.
"""

from __future__ import annotations

import re

# PJSIP and Motif endpoint names: a letter first, so a name never reads like a number.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
_LOCAL_RE = re.compile(r"[a-z0-9+][a-z0-9._+\-]{0,63}")
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_RESOURCE_RE = re.compile(r"[A-Za-z0-9._\-]{1,64}")
MAX_DOMAIN = 253


def is_name(value: str) -> bool:
    return NAME_RE.fullmatch(value) is not None


def is_domain(value: str) -> bool:
    """A lower-case ASCII DNS name (what a component domain must be)."""
    return len(value) <= MAX_DOMAIN and _DOMAIN_RE.fullmatch(value) is not None


def canonical_jid(value: str, *, allow_resource: bool) -> str | None:
    """The canonical form of a JID in the strict subset callctl accepts, else None.

    Local part and domain are case-insensitive in XMPP, so they are lower-cased (ASCII only:
    str.lower() on non-ASCII text could map a lookalike onto a configured JID).
    """
    if not value.isascii():
        return None
    bare, slash, resource = value.partition("/")
    local, at, domain = bare.partition("@")
    if not at:
        return None
    local, domain = local.lower(), domain.lower()
    if _LOCAL_RE.fullmatch(local) is None or _DOMAIN_RE.fullmatch(domain) is None:
        return None
    if len(domain) > MAX_DOMAIN:
        return None
    if slash:
        if not allow_resource or _RESOURCE_RE.fullmatch(resource) is None:
            return None
        return f"{local}@{domain}/{resource}"
    return f"{local}@{domain}"


def caller_key(caller_jid: str) -> str | None:
    """The bare JID used to look a caller up: the resource (the client) does not matter.

    Anything outside the strict subset gives None, and so can never match a configured caller.
    """
    bare = caller_jid.partition("/")[0]
    return canonical_jid(bare, allow_resource=False)
