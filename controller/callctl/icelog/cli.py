"""`callctl ice analyze FILE [--json]`: per-session ICE summary and named failure signatures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from callctl.errors import UsageError
from callctl.icelog.analyzer import IceLogAnalyzer
from callctl.icelog.report import render_text
from callctl.wire.capture import CaptureReader, read_capture
from callctl.wire.errors import DecodeError

if TYPE_CHECKING:
    from callctl.cli import Console

CHUNK = 1 << 20


def analyze_stream(f: BinaryIO, wire_keys: bool = False) -> IceLogAnalyzer:
    a = IceLogAnalyzer(wire_keys)
    while chunk := f.read(CHUNK):
        a.feed(chunk)
    a.finish()
    return a


def analyze_file(path: Path, wire_keys: bool = False) -> IceLogAnalyzer:
    """Analyze a log file; `-` reads standard input."""
    if str(path) == "-":
        return analyze_stream(sys.stdin.buffer, wire_keys)
    try:
        f = path.open("rb")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    with f:
        return analyze_stream(f, wire_keys)


def analyze_capture(path: Path) -> CaptureReader:
    try:
        f = path.open("rb")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    with f:
        try:
            return read_capture(f)
        except DecodeError as err:
            raise UsageError(f"{path} is not a readable capture: {err}") from None


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
    an.add_argument("file", type=Path, nargs="?", help="log file (`-` for standard input)")
    an.add_argument(
        "--pcap",
        type=Path,
        help="also (or only) read this pcap/pcapng capture: STUN, TURN, DTLS and RTP per ICE "
        "session on one timeline with the log, and the failures only the wire shows",
    )
    an.add_argument(
        "--max-events", type=int, default=40, help="state changes shown per session (text)"
    )
    add_json_flag(an)
    an.set_defaults(func=cmd_analyze)


def has_ice_events(report: dict[str, Any]) -> bool:
    return bool(report["sessions_total"] or report["findings"] or report["jingle_rejections"])


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    if args.pcap is not None:
        return _cmd_pcap(args, console)
    if args.file is None:
        raise UsageError("ice analyze needs a log FILE, or --pcap CAPTURE [FILE]")
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


def _cmd_pcap(args: argparse.Namespace, console: Console) -> int:
    from callctl.icelog.merge import merged_report, render_wire_text

    capture = analyze_capture(args.pcap)
    log = analyze_file(args.file, wire_keys=True) if args.file is not None else None
    rep = merged_report(capture, log)
    log_rep = log.report() if log is not None else None
    # A capture without STUN next to a log with ICE events is a verdict (ICE never reached
    # the wire, e.g. the call failed in signalling), not a mistake.
    if not rep["stun"] and not (log_rep is not None and has_ice_events(log_rep)):
        raise UsageError(
            f"no ICE events in {args.pcap} ({rep['frames']} frames, {rep['udp']} UDP): "
            "no STUN at all; was the capture taken on the media interface and ports?"
        )
    if console.json:
        doc: dict[str, Any] = {"pcap": str(args.pcap), "wire": rep}
        if log_rep is not None:
            doc.update(file=str(args.file), log=log_rep)
        console.emit_json("ice.analysis", doc)
        return 0
    if log_rep is not None and has_ice_events(log_rep):
        for line in render_text(log_rep, args.max_events):
            console.result(line)
        console.result("")
    for line in render_wire_text(rep, args.max_events):
        console.result(line)
    return 0
