"""The gateway's JIDs: number JIDs, per-call token JIDs, and the caller JIDs of inbound calls.

Every localpart that reaches the gateway is untrusted. A number JID's localpart becomes a
number only if it is ASCII digits with at most one leading "+" (`NUMBER_RE`); anything else
(`+1555&x`, `${EXTEN}`, Arabic-Indic or full-width digits, 1,000 characters, empty) is
refused here, and the router normalises and checks what passes, as for any dialled number.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# "+" and digits only; 20 leaves room for an international prefix before 15 E.164 digits.
NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
TOKEN_RE = re.compile(r"[0-9a-f]{20}")
OUT, IN = "c", "t"  # token kinds: c- a client's call out, t- a call to a user
RELAY_RESOURCE = "relay"  # the resource of token JIDs (what chan_motif talks to)
GATEWAY_RESOURCE = "gateway"  # the resource a number JID answers JMI from
ANONYMOUS = "anonymous"  # inbound calls without a usable caller number come from here


@dataclass(frozen=True)
class Jid:
    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> Jid | None:
        """Split a JID as the server wrote it; None when it has no domain."""
        bare, _, resource = text.partition("/")
        local, at, domain = bare.rpartition("@")
        if not domain or (at and not local):
            return None
        return cls(local, domain.lower(), resource)

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare

    def __str__(self) -> str:
        return self.full


def parse_number(local: str) -> str | None:
    """The number a number JID's localpart names, or None when it is not a number."""
    if len(local) > 21 or not local.isascii() or NUMBER_RE.fullmatch(local) is None:
        return None
    return local


def new_token() -> str:
    return secrets.token_hex(10)


def token_jid(domain: str, kind: str, token: str) -> str:
    """`c-<token>@domain/relay` or `t-<token>@domain/relay`."""
    if kind not in (OUT, IN) or TOKEN_RE.fullmatch(token) is None:
        raise ValueError(f"not a token: {kind}-{token!r}")
    return f"{kind}-{token}@{domain}/{RELAY_RESOURCE}"


def parse_token(jid: Jid | None, domain: str) -> tuple[str, str] | None:
    """(kind, token) when `jid` is a token JID of the gateway domain, else None."""
    if jid is None or jid.domain != domain:
        return None
    kind, dash, token = jid.local.partition("-")
    if not dash or kind not in (OUT, IN) or TOKEN_RE.fullmatch(token) is None:
        return None
    return kind, token


def caller_jid(domain: str, number: str | None) -> str:
    """The bare JID an inbound call comes from: `+CALLER@domain`, or the fixed anonymous JID
    when the trunk gave no number that is E.164 (withheld, "anonymous", garbage)."""
    if number is None or re.fullmatch(r"\+[1-9][0-9]{6,14}", number) is None:
        return f"{ANONYMOUS}@{domain}"
    return f"{number}@{domain}"
