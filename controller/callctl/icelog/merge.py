"""One timeline per ICE session from a capture and a log (pure).

A wire session (a pair of ufrags) is matched to the log's pjnath session by its ufrags
(the USERNAME of the checks in pjnath's level-5 dumps), then by a STUN transaction ID both
saw (the dumps print `tsx_id`), else by an address both name. A shared transaction also
gives the clock offset between the two, so log events are placed on the capture's clock;
without one, the log's events keep their own clock and the timeline says so. The DTLS role
each side signalled (Jingle `setup`, from res_xmpp's debug XML) tells the wire signatures
who should have sent the ClientHello.
"""

from __future__ import annotations

from typing import Any

from callctl.icelog.analyzer import IceLogAnalyzer
from callctl.icelog.session import Session
from callctl.wire.capture import CaptureReader
from callctl.wire.ice import WireSession
from callctl.wire.ice import session_report as wire_session_report
from callctl.wire.signatures import diagnose


def _log_addresses(s: Session) -> tuple[set[str], set[str]]:
    """(Asterisk's addresses, the peer's) as the log names them."""
    local = {c["addr"] for c in s.local} | {k[1] for k in s.checks}
    return local, set(s.remotes)


def wire_form(tsx: str) -> str:
    """pjnath's dump prints the 96-bit transaction ID as three 32-bit words in host order
    (stun_msg_dump.c); on a little-endian host each word is byte-swapped from the wire's."""
    raw = bytes.fromhex(tsx)
    return b"".join(raw[i : i + 4][::-1] for i in range(0, 12, 4)).hex()


def _offset(w: WireSession, s: Session) -> float | None:
    """Wire time minus log time, from a STUN transaction both saw."""
    for tsx, log_t in s.transactions.items():
        for form in (tsx, wire_form(tsx)):
            if form in w.transactions and log_t is not None:
                return w.transactions[form] - log_t
    return None


def _match(w: WireSession, sessions: list[Session]) -> tuple[Session | None, str]:
    """The log session of wire session `w`, and what matched them."""
    for s in sessions:
        if set(w.key) <= s.ufrags:
            return s, "ufrags"
    for s in sessions:
        if _offset(w, s) is not None:
            return s, "transaction"
    wire_addrs = {a for agent in w.agents.values() for a in agent.addrs}
    for s in reversed(sessions):
        local, remote = _log_addresses(s)
        if wire_addrs & (local | remote):
            return s, "address"
    return None, ""


def _active_sides(log: IceLogAnalyzer | None) -> dict[str, str]:
    """address -> setup role, from the last Jingle `setup` each side sent."""
    out: dict[str, str] = {}
    if log is None:
        return out
    for s in log.finished:
        local, remote = _log_addresses(s)
        for addr in local:
            if "sent" in log.jingle.setup:
                out[addr] = log.jingle.setup["sent"]
        for addr in remote:
            if "received" in log.jingle.setup:
                out[addr] = log.jingle.setup["received"]
    return out


def merged_report(capture: CaptureReader, log: IceLogAnalyzer | None) -> dict[str, Any]:
    wire = capture.ice
    sessions = diagnose(wire, _active_sides(log))
    log_sessions = log.finished if log is not None else []
    out: list[dict[str, Any]] = []
    for w in sessions:
        rep = wire_session_report(w)
        s, matched_by = _match(w, log_sessions)
        if s is not None:
            offset = _offset(w, s)
            rep["log_session"] = s.name
            rep["matched_by"] = matched_by
            rep["clock"] = (
                "aligned by a STUN transaction"
                if offset is not None
                else "log's own (from the log session's start)"
            )
            base = w.first or 0.0
            log_base = next((e["t"] for e in s.events if e["t"] is not None), 0.0)
            for e in s.events:
                t = e["t"]
                if t is None:
                    continue
                # unaligned: the log's own clock, from the session's first event
                when = t + offset - base if offset is not None else t - log_base
                rep["timeline"].append(
                    {
                        "t": round(when, 6),
                        "source": "log",
                        "event": e["event"],
                        "detail": e["detail"],
                    }
                )
            if offset is not None:
                rep["timeline"].sort(key=lambda e: e["t"])
        out.append(rep)
    signatures: dict[str, int] = {}
    for rep in out:
        for sig in rep["signatures"]:
            signatures[sig["signature"]] = signatures.get(sig["signature"], 0) + 1
    return {
        "frames": capture.frames,
        "udp": capture.udp,
        "stun": wire.stun,
        "dtls": wire.dtls,
        "rtp": wire.rtp,
        "decode_errors": wire.decode_errors + capture.bad_frames,
        "decode_error_examples": wire.decode_error_examples,
        "truncated": capture.truncated,
        "dropped": wire.dropped,  # sessions or flows past the bounds, counted
        "flows": [
            {"src": f.src, "dst": f.dst, "packets": f.packets, "first": dict(f.kinds)}
            for f in list(wire.flows.values())[:200]
        ],
        "turn": wire.turn,  # allocations and the like, before any ICE session knows the address
        "sessions": out,
        "signatures": signatures,
    }


def render_wire_text(rep: dict[str, Any], max_events: int) -> list[str]:
    out: list[str] = []
    for s in rep["sessions"]:
        out.append(
            f"ICE session {s['ufrags'][0]}/{s['ufrags'][1]} on the wire"
            + (
                f" = {s['log_session']} in the log (clock: {s['clock']})"
                if s.get("log_session")
                else ""
            )
        )
        for a in s["agents"]:
            nom = ", ".join(f"NOMINATION {c}={v}" for c, v in a["nomination"].items())
            out.append(
                f"  agent {a['ufrag']}: {a['role'] or 'role ?'}, {', '.join(a['addresses'])}; "
                f"{a['checks_sent']} checks, USE-CANDIDATE x{a['use_candidate']}"
                + (f", {nom}" if nom else "")
                + f"; RTP sent {a['rtp_sent']}, ClientHello {a['dtls_client_hello']}"
            )
        out.append("  nominated: " + (", ".join(s["nominated"]) or "none"))
        events = s["timeline"]
        out.append(f"  timeline ({len(events) + s['timeline_dropped']} events):")
        for e in events[:max_events]:
            out.append(f"    {e['t']:+10.3f}  {e['source']:4} {e['event']:<12} {e['detail']}")
        if len(events) > max_events:
            out.append(f"    ... {len(events) - max_events} more ...")
        for sig in s["signatures"]:
            out.append(f"  FAILURE {sig['signature']}: {sig['explanation']}")
            out.append(f"    evidence: {sig['evidence']}")
            out.append(f"    fix:      {sig['patch']}")
        out.append("")
    for t in rep["turn"][:max_events]:
        out.append(f"TURN: {t['detail']}")
    out.append(
        f"capture: {rep['frames']} frames, {rep['udp']} UDP: {rep['stun']} STUN, "
        f"{rep['dtls']} DTLS, {rep['rtp']} RTP/RTCP; {len(rep['sessions'])} ICE session(s)"
        + (f"; {rep['decode_errors']} undecodable" if rep["decode_errors"] else "")
        + (f"; ends early: {rep['truncated']}" if rep["truncated"] else "")
    )
    if rep["signatures"]:
        out.append(
            "wire signatures: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(rep["signatures"].items()))
        )
    return out
