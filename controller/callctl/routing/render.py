"""Human-readable text for routing decisions and config issues."""

from __future__ import annotations

import json

from callctl.routing.decide import InboundDecision, OutboundDecision
from callctl.routing.issues import Issue


def quote(untrusted: str) -> str:
    """A caller-supplied string made safe to print: quoted, with newlines and non-ASCII escaped."""
    return json.dumps(untrusted, ensure_ascii=True)


def issues_text(filename: str, issues: list[Issue]) -> list[str]:
    lines = [issue.format(filename) for issue in issues]
    lines.append(f"{len(issues)} error{'s' if len(issues) != 1 else ''} in {filename}")
    return lines


def _verdict(allowed: bool, reason: str, detail: str) -> str:
    return f"allowed: {detail}" if allowed else f"refused ({reason}): {detail}"


def _cause(decision: OutboundDecision | InboundDecision) -> list[str]:
    if decision.cause is None:
        return []
    return [f"  hangup cause: {int(decision.cause)} ({decision.cause.name})"]


def outbound_text(caller_jid: str, dialled: str, decision: OutboundDecision) -> list[str]:
    to = f"to {quote(dialled)}" if dialled.strip() else "with no number dialled"
    lines = [
        f"outbound call from {quote(caller_jid)} {to}",
        f"  verdict:      {_verdict(decision.allowed, decision.reason, decision.detail)}",
    ]
    lines += _cause(decision)
    if decision.number:
        via = " (the caller's hotline)" if decision.hotline else ""
        lines.append(f"  number:       {decision.number}{via}")
    if decision.caller_id:
        lines.append(f"  caller ID:    {decision.caller_id}")
    if decision.allowed:
        lines.append(f"  ring timeout: {decision.ring_timeout} s")
        order = [
            f"{t} ({'primary' if i == 0 else f'fallback {i}'})"
            for i, t in enumerate(decision.trunks)
        ]
        lines.append(f"  trunk order:  {', '.join(order)}")
        lines.append("  dial strings (next one only after congestion, 5xx or no response):")
        lines += [f"    {i}. {s}" for i, s in enumerate(decision.dial_strings, 1)]
    return lines


def inbound_text(did: str, decision: InboundDecision) -> list[str]:
    lines = [
        f"inbound call to {quote(did)}",
        f"  verdict:      {_verdict(decision.allowed, decision.reason, decision.detail)}",
    ]
    lines += _cause(decision)
    if decision.number:
        lines.append(f"  number:       {decision.number}")
    if decision.allowed and decision.mode is not None:
        each = " each" if decision.mode == "sequential" else ""
        lines.append(f"  ringing:      {decision.mode}, {decision.ring_timeout} s{each}")
        lines.append("  dial strings:")
        lines += [f"    {i}. {s}" for i, s in enumerate(decision.dial_strings, 1)]
    return lines
