"""The failures only the wire shows, one function per signature (pure).

Each reads one `WireSession` (and the capture's flows) and returns its evidence, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callctl.wire.ice import Agent, Flow, WireIce, WireSession

Signature = dict[str, Any]  # signature, explanation, patch, evidence
Flows = dict[tuple[str, str], Flow]

SIGNATURES = {
    "wire-nomination-not-understood": (
        "the controlling agent nominated with the NOMINATION attribute only; the controlled "
        "agent never saw USE-CANDIDATE, so it waited and sent no media",
        "renomination patch (patches/pjproject/0110-pjnath-honour-NOMINATION-largest-value-"
        "wins.patch: honour the NOMINATION attribute 0xC001, largest value wins)",
    ),
    "wire-check-not-triggered-back": (
        "an agent answered the peer's check but never checked back to that address, so the "
        "pair never became valid on its side",
        "pjnath triggered-check patch (patches/pjproject/0100-pjnath-retry-failed-pairs-and-"
        "wait-for-a-late-peer.patch: a Failed pair goes back to Waiting on an incoming check)",
    ),
    "wire-role-conflict": (
        "both agents claimed the same ICE role; one answered 487 Role Conflict",
        "chan_motif ICE role patch (patches/asterisk/0050-chan_motif-ice-role.patch: set the "
        "role from the Jingle initiator)",
    ),
    "wire-dtls-no-client-hello": (
        "the side that said setup='active' never sent a DTLS ClientHello, so no SRTP keys",
        "none in the series: check the DTLS setup role the client and Asterisk negotiated",
    ),
    "wire-media-not-to-nominated": (
        "media went to an address that is not the nominated pair's",
        "res_rtp_asterisk nominated_check patch (patches/asterisk/0010-res_rtp_asterisk-"
        "nominated-pair.patch: take the remote address from comp[].nominated_check)",
    ),
}


def nomination_not_understood(s: WireSession, flows: Flows, active: dict[str, str]) -> str | None:
    """The controlling agent nominated with NOMINATION only; the other side shows it never
    took the nomination: no media, or no ICE of its own at all."""
    for a in s.agents.values():
        if a.role != "controlling" or not a.nomination or a.use_candidate:
            continue
        for b in s.agents.values():
            if b is not a and (b.rtp_sent == 0 or b.requests == 0):
                codes = ", ".join(f"0x{c:04X} up to {v}" for c, v in sorted(a.nomination.items()))
                shows = "sent no RTP" if b.rtp_sent == 0 else "never ran a check of its own"
                return (
                    f"{a.ufrag} (controlling, {a.requests} checks) nominated with NOMINATION "
                    f"({codes}) and never USE-CANDIDATE; {b.ufrag} {shows}"
                )
    return None


def check_not_triggered_back(s: WireSession, flows: Flows, active: dict[str, str]) -> str | None:
    for (src, dst), t in sorted(s.answered.items(), key=lambda kv: kv[1]):
        back = flows.get((dst, src))
        if back is None or "check" not in back.kinds:
            return (
                f"{dst} answered the check from {src} at {t - (s.first or t):.3f} s but never "
                f"sent a check to {src}"
            )
    return None


def role_conflict(s: WireSession, flows: Flows, active: dict[str, str]) -> str | None:
    for e in s.errors:
        if e["code"] == 487:
            roles = ", ".join(
                f"{a.ufrag} {a.role} tie-breaker {a.tie_breaker:#018x}"
                for a in s.agents.values()
                if a.role and a.tie_breaker is not None
            )
            return f"487 from {e['from']}; {roles}"
    return None


def signalled(a: Agent, active: dict[str, str]) -> str | None:
    """The DTLS setup role agent `a` signalled, by its ufrag or one of its addresses."""
    return active.get(a.ufrag) or next((active[x] for x in sorted(a.addrs) if x in active), None)


def dtls_no_client_hello(s: WireSession, flows: Flows, active: dict[str, str]) -> str | None:
    """Needs the signalled setup roles (`active`: ufrag or address -> setup)."""
    if not s.answered:
        return None
    for a in s.agents.values():
        if signalled(a, active) == "active" and a.client_hello == 0:
            addrs = ", ".join(sorted(a.addrs))
            return f"{a.ufrag} ({addrs}) said setup='active' but sent no ClientHello"
    return None


def media_not_to_nominated(s: WireSession, flows: Flows, active: dict[str, str]) -> str | None:
    if not s.nominated:
        return None
    ends = {dst for _src, dst in s.nominated} | {src for src, _dst in s.nominated}
    for f in flows.values():
        if "rtp" in f.kinds and s.owner(f.src) is not None and f.dst not in ends:
            pairs = ", ".join(f"{a} -> {b}" for a, b in sorted(s.nominated))
            return f"RTP {f.src} -> {f.dst}; the nominated pair(s): {pairs}"
    return None


CHECKS: tuple[tuple[str, Callable[[WireSession, Flows, dict[str, str]], str | None]], ...] = (
    ("wire-nomination-not-understood", nomination_not_understood),
    ("wire-check-not-triggered-back", check_not_triggered_back),
    ("wire-role-conflict", role_conflict),
    ("wire-dtls-no-client-hello", dtls_no_client_hello),
    ("wire-media-not-to-nominated", media_not_to_nominated),
)


def wire_signatures(s: WireSession, flows: Flows, active: dict[str, str]) -> list[Signature]:
    found: list[Signature] = []
    for name, check in CHECKS:
        evidence = check(s, flows, active)
        if evidence is not None:
            explanation, patch = SIGNATURES[name]
            found.append(
                {
                    "signature": name,
                    "explanation": explanation,
                    "patch": patch,
                    "evidence": evidence,
                }
            )
    return found


def diagnose(wire: WireIce, active: dict[str, str] | None = None) -> list[WireSession]:
    """The capture's sessions, each with its signatures in `found`. `active`: ufrag or
    address -> "active"/"passive" as signalled (the log's Jingle `setup`), when known."""
    out = wire.sessions()
    for s in out:
        for a in s.agents.values():
            a.setup = signalled(a, active or {})
        s.found = wire_signatures(s, wire.flows, active or {})
    return out
