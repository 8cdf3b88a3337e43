"""`callctl ice analyze FILE [--json]`: per-session ICE summary and named failure signatures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from callctl.errors import UsageError
from callctl.icelog.analyzer import IceLogAnalyzer
from callctl.icelog.report import render_text

if TYPE_CHECKING:
    from callctl.cli import Console

CHUNK = 1 << 20


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


def has_ice_events(report: dict[str, Any]) -> bool:
    return bool(report["sessions_total"] or report["findings"] or report["jingle_rejections"])


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    a = analyze_file(args.file)
    report = a.report()
    if not has_ice_events(report):
        what = f"{report['lines']} lines" if report["lines"] else "an empty input"
        if report["warnings"]["lines_too_long"]:
            what += f", {report['warnings']['lines_too_long']} of them too long and skipped"
        raise UsageError(
            f"no ICE events in {args.file} ({what}): no pjnath ICE session, no Jingle "
            "signalling; is pjproject logging at level 4 or more (`callctl debug on`)?"
        )
    if console.json:
        console.emit_json("ice.analysis", {"file": str(args.file), **report})
        return 0
    for line in render_text(report, args.max_events):
        console.result(line)
    return 0
