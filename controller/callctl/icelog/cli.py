"""`callctl ice analyze FILE [--json]`: per-session ICE summary and named failure signatures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from callctl.errors import UsageError
from callctl.icelog.analyzer import IceLogAnalyzer

if TYPE_CHECKING:
    from callctl.cli import Console

CHUNK = 1 << 20


def iter_lines(f: BinaryIO) -> Iterator[str]:
    """Lines of a binary stream, decoded leniently, in constant memory."""
    tail = b""
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            break
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        for raw in lines:
            yield raw.decode("utf-8", "replace")
    if tail:
        yield tail.decode("utf-8", "replace")


def analyze_stream(f: BinaryIO) -> IceLogAnalyzer:
    a = IceLogAnalyzer()
    while chunk := f.read(CHUNK):
        a.feed(chunk)
    a.finish()
    return a


def analyze_file(path: Path) -> IceLogAnalyzer:
    """Analyze a log file; `-` reads standard input."""
    if str(path) == "-":
        return analyze_stream(sys.stdin.buffer)
    try:
        f = path.open("rb")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    with f:
        return analyze_stream(f)


def register(sub: Any) -> None:
    from callctl.cli import add_json_flag

    p = sub.add_parser("ice", help="ICE log analysis")
    isub = p.add_subparsers(dest="ice_command", metavar="ACTION")
    isub.required = True
    an = isub.add_parser(
        "analyze",
        help="summarise every ICE session in a debug log and name known failures",
        description="Reads an Asterisk debug log (the file `callctl debug on` made) or a raw "
        "pjlib log, streaming, and prints per ICE session: candidates, checklist, state "
        "changes, nominations, outcome, duration, and known failure signatures with the "
        "patch that fixes each.",
    )
    an.add_argument("file", type=Path, help="log file (`-` for standard input)")
    an.add_argument(
        "--max-events", type=int, default=40, help="state changes shown per session (text)"
    )
    add_json_flag(an)
    an.set_defaults(func=cmd_analyze)


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
    elif report["sessions_total"]:
        out.append("no known failure signature found")
    else:
        out.append("no pjnath ICE lines found (is pjproject logging at level 4 or more?)")
    return out


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    a = analyze_file(args.file)
    report = a.report()
    if console.json:
        console.emit_json("ice.analysis", {"file": str(args.file), **report})
        return 0
    for line in render_text(report, args.max_events):
        console.result(line)
    return 0
