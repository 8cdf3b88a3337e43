"""The analysis as data (`session_report`) and as text (`render_text`), pure."""

from __future__ import annotations

from typing import Any

from callctl.icelog.session import Session, key_text


def session_report(s: Session) -> dict[str, Any]:
    def rel(ts: float | None) -> float | None:
        base = s.created if s.created is not None else s.started
        if ts is None or base is None:
            return None
        return round(ts - base, 3)

    local: dict[str, dict[str, int]] = {}
    for c in s.local:
        local.setdefault(str(c["comp"]), {}).setdefault(c["type"], 0)
        local[str(c["comp"])][c["type"]] += 1
    remote: dict[str, list[str]] = {}
    for k in s.checks:
        lst = remote.setdefault(str(k[0]), [])
        if k[2] not in lst:
            lst.append(k[2])
    start = s.created if s.created is not None else s.started
    end = s.completed if s.completed is not None else (s.ended or s.last_ts)
    return {
        "session": s.name,
        "ordinal": s.ordinal,
        "first_line": s.first_line,
        "role": s.role,
        "components": s.comp_cnt,
        "candidates": {
            "local": local,
            "local_list": s.local,
            "remote": remote,
            "remote_prflx": s.remote_prflx,
        },
        "checklist": [
            {
                "pair": key_text(c.key),
                "state": c.state,
                "nominated": c.nominated,
                **({"failure": c.failure} if c.failure else {}),
            }
            for c in s.checks.values()
        ],
        "valid_list": s.valid_list,
        "state_changes": [dict(e, t=rel(e["t"])) for e in s.events],
        "state_changes_dropped": s.events_dropped,
        "nominations": [dict(n, t=rel(n["t"])) for n in s.nominations],
        "outcome": s.outcome(),
        "status": s.status,
        "stopped": s.stopped or None,  # by the application before ICE completed
        "negotiation": (  # pjnath's own "ICE negotiation success|failed after Ns:mmm"
            {"result": s.negotiation["result"], "seconds": s.negotiation["seconds"]}
            if s.negotiation
            else None
        ),
        "duration": round(end - start, 3) if end is not None and start is not None else None,
        "signatures": s.found,
    }


def _t(v: Any) -> str:
    return "   ?   " if v is None else f"{v:+8.3f}"


def render_text(report: dict[str, Any], max_events: int) -> list[str]:
    out: list[str] = []
    for s in report["sessions"]:
        dur = "?" if s["duration"] is None else f"{s['duration']:.3f} s"
        out.append(
            f"ICE session {s['session']} (line {s['first_line']}): {s['role']} agent, "
            f"{s['components'] or '?'} component(s)"
        )
        status = f" ({s['status']})" if s["status"] else ""
        out.append(f"  outcome:   {s['outcome'].upper()}{status} after {dur}")
        if s["stopped"]:
            out.append(f"  stopped:   by the application before ICE completed: {s['stopped']}")
        if s["negotiation"]:
            n = s["negotiation"]
            out.append(f"  pjnath:    ICE negotiation {n['result']} after {n['seconds']:.3f} s")
        local = s["candidates"]["local"]
        out.append(
            "  local:     "
            + (
                "; ".join(
                    f"comp {c}: " + ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
                    for c, types in sorted(local.items())
                )
                or "none logged"
            )
        )
        remote = s["candidates"]["remote"]
        out.append(
            "  remote:    "
            + ("; ".join(f"comp {c}: {', '.join(a)}" for c, a in sorted(remote.items())) or "none")
            + (
                f" (peer-reflexive: {', '.join(s['candidates']['remote_prflx'])})"
                if s["candidates"]["remote_prflx"]
                else ""
            )
        )
        out.append("  checklist:")
        for c in s["checklist"] or []:
            nom = " nominated" if c["nominated"] else ""
            fail = f"  ({c['failure']})" if c.get("failure") else ""
            out.append(f"    {c['pair']}  {c['state']}{nom}{fail}")
        if not s["checklist"]:
            out.append("    (no checklist)")
        noms = s["nominations"]
        out.append(
            "  nominated: "
            + (", ".join(f"{n['pair']} at {_t(n['t']).strip()} s" for n in noms) or "none")
        )
        events = s["state_changes"]
        out.append(f"  state changes ({len(events) + s['state_changes_dropped']}):")
        shown = (
            events
            if len(events) <= max_events
            else [*events[: max_events // 2], None, *events[-(max_events // 2) :]]
        )
        for e in shown:
            if e is None:
                out.append(f"    ... {len(events) - max_events} more ...")
                continue
            out.append(f"    {_t(e['t'])}  {e['event']:<17} {e['detail']}")
        for sig in s["signatures"]:
            out.append(f"  FAILURE {sig['signature']}: {sig['explanation']}")
            out.append(f"    evidence: {sig['evidence']}")
            out.append(f"    fix:      {sig['patch']}")
        out.append("")
    for f in report["findings"]:
        out.append(f"line {f['line']} [{f['stamp']}]: FAILURE {f['signature']}: {f['explanation']}")
        out.append(f"    evidence: {f['evidence']}")
        out.append(f"    fix:      {f['patch']}")
    oc = report["outcomes"]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(oc.items())) or "none"
    out.append(
        f"{report['sessions_total']} ICE session(s) in {report['lines']} lines: {summary}"
        + (
            f" (details shown for the first {report['sessions_shown']})"
            if report["sessions_shown"] < report["sessions_total"]
            else ""
        )
    )
    if report["signatures"]:
        out.append(
            "failure signatures: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(report["signatures"].items()))
        )
    else:
        out.append("no known failure signature found")
    warnings = {k: n for k, n in report["warnings"].items() if n}
    if warnings:
        out.append(
            "warning: input past the analyzer's bounds was dropped: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(warnings.items()))
        )
    return out
