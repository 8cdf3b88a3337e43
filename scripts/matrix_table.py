#!/usr/bin/env python3
"""Render the Jingle interop matrix (tests/test_jingle_matrix.py) into README.md.

    python scripts/matrix_table.py RESULTS.json [--readme README.md] [--check]

RESULTS.json is what the test wrote ($CALLCTL_MATRIX_OUT, else jingle-matrix.json in the
pytest basetemp). The table replaces whatever is between `<!-- matrix:begin -->` and
`<!-- matrix:end -->` in the README; `--check` only tells (exit 1) whether it would change.
The real-client rows (tests/functional/test_webrtc_matrix.py, webrtc-matrix.json: cells with
a `browser`) go between `<!-- webrtc-matrix:begin -->` and `<!-- webrtc-matrix:end -->`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
WEBRTC_BEGIN, WEBRTC_END = "<!-- webrtc-matrix:begin -->", "<!-- webrtc-matrix:end -->"
FLAVOURS = ("stock", "patched")
DIRECTIONS = {"out": "client calls phone", "in": "phone calls client"}
ANSWERS = {
    "at-once": "at once",
    "ring10": "after 10 s ringing",
    "ring60": "after 60 s ringing",
}


def _seconds(value: float | None) -> str:
    """Milliseconds; Asterisk's side comes from log timestamps truncated to 1 ms, so a value
    just below 0 means "at the answer"."""
    return "-" if value is None else f"{round(value * 1000)} ms"


def verdict(cell: dict[str, Any] | None) -> str:
    """One table cell: pass with both ICE times, or FAIL with its cause."""
    if cell is None:
        return "not run"
    client = cell.get("ice_after_answer_client")
    asterisk = cell.get("ice_after_answer_asterisk")
    rtp = cell.get("rtp", {})
    if cell.get("passed"):
        return (
            f"pass: ICE {_seconds(client)} / {_seconds(asterisk)}; "
            f"RTP {rtp.get('echoed_to_client')}/{rtp.get('sent_by_client')} back, "
            f"phone leg {rtp.get('asterisk_to_phone')}/{rtp.get('phone_to_asterisk')}, "
            f"SIPp echoed {rtp.get('echoed_by_sipp')}"
        )
    if cell.get("rejected"):
        cause = f"client rejected the session ({cell.get('terminate_reason') or 'rejected'})"
    elif cell.get("error"):
        cause = str(cell["error"])[:80]
    elif not cell.get("client_ice"):
        cause = "client ICE never completed"
    elif not cell.get("asterisk_ice"):
        cause = f"client ICE {_seconds(client)}, Asterisk ICE never completed"
    else:
        cause = f"client ICE {_seconds(client)}, Asterisk {', '.join(cell['asterisk_ice'])}"
    return _failed(cause, cell)


def _failed(cause: str, cell: dict[str, Any]) -> str:
    """A failed cell: what stopped it, then the signatures `callctl ice analyze` found."""
    found = ", ".join(f"`{s}`" for s in cell.get("analyzer", []))
    return f"**FAIL**: {cause}" + (f"; analyzer: {found}" if found else "")


def is_webrtc(doc: dict[str, Any]) -> bool:
    """A real-client results file: its cells name the browser."""
    return any(
        "browser" in cell for col in doc.get("columns", {}).values() for cell in col["cells"]
    )


def webrtc_verdict(cell: dict[str, Any] | None) -> str:
    """One real-client table cell: pass with the counts, or FAIL with what stopped it."""
    if cell is None:
        return "not run"
    rtp = cell.get("rtp", {})
    if cell.get("passed"):
        nom = cell.get("nominations") or {}
        wire = (
            f"; wire: NOMINATION in {nom.get('nomination')} of {nom.get('requests')} checks, "
            f"USE-CANDIDATE in {nom.get('use_candidate')}"
            if nom
            else ""
        )
        return (
            f"pass: DTLS-SRTP; audio {rtp.get('received_by_browser')}/"
            f"{rtp.get('sent_by_browser')} in {rtp.get('window_s'):g} s, phone leg "
            f"{rtp.get('asterisk_to_phone')}/{rtp.get('phone_to_asterisk')}, SIPp echoed "
            f"{rtp.get('echoed_by_sipp')}{wire}"
        )
    if cell.get("error"):
        cause = str(cell["error"])[:80]
    elif cell.get("terminate_reason"):
        cause = f"Jingle session-terminate ({cell['terminate_reason']})"
    elif cell.get("connection") not in ("", None, "connected"):
        cause = f"connection {cell['connection']}, DTLS {cell.get('dtls')}, no audio"
    else:
        cause = f"no media (connection {cell.get('connection') or '-'})"
    return _failed(cause, cell)


def render(doc: dict[str, Any]) -> str:
    columns = doc.get("columns", {})
    by_key: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {
        flavour: {(c["profile"], c["direction"], c["answer"]): c for c in col.get("cells", [])}
        for flavour, col in columns.items()
    }
    keys: list[tuple[str, str, str]] = []
    for flavour in FLAVOURS:
        for key in by_key.get(flavour, {}):
            if key not in keys:
                keys.append(key)
    webrtc = is_webrtc(doc)
    judge = webrtc_verdict if webrtc else verdict
    lines = [
        "| client | call | callee answers | stock | patched |",
        "| --- | --- | --- | --- | --- |",
    ]
    for profile, direction, answer in keys:
        cells = [judge(by_key.get(f, {}).get((profile, direction, answer))) for f in FLAVOURS]
        lines.append(
            f"| {profile} | {DIRECTIONS.get(direction, direction)} | "
            f"{ANSWERS.get(answer, answer)} | {cells[0]} | {cells[1]} |"
        )
    lines.append("")
    for flavour in FLAVOURS:
        col = columns.get(flavour)
        if col is None:
            lines.append(f"- {flavour}: not run")
            continue
        cells = col.get("cells", [])
        passed = sum(1 for c in cells if c.get("passed"))
        times = [
            max(c["ice_after_answer_client"], c["ice_after_answer_asterisk"])
            for c in cells
            if c.get("passed")
            and c.get("ice_after_answer_client") is not None
            and c.get("ice_after_answer_asterisk") is not None
        ]
        worst = f"; slowest ICE after answer {_seconds(max(times))}" if times else ""
        if webrtc:
            browsers = sorted({c["browser"] for c in cells if c.get("browser")})
            worst = f"; {', '.join(browsers)}"
        lines.append(
            f"- {flavour}: build `{col.get('build')}` (Asterisk {col.get('asterisk')}, "
            f"{len(col.get('patches', []))} patches), {passed} of {len(cells)} cells pass"
            f"{worst}; run finished {col.get('finished')} in {col.get('runtime_s')} s"
        )
    return "\n".join(lines)


def replace_block(readme: str, table: str, begin: str = BEGIN, end_mark: str = END) -> str:
    start, end = readme.find(begin), readme.find(end_mark)
    if start < 0 or end < start:
        raise SystemExit(f"README has no {begin} ... {end_mark} block")
    return readme[: start + len(begin)] + "\n" + table + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", type=Path, default=Path(__file__).parent.parent / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if README would change")
    args = parser.parse_args(argv)
    doc = json.loads(args.results.read_text())
    if doc.get("version") != 1:
        raise SystemExit(f"{args.results}: not a version-1 matrix result")
    old = args.readme.read_text()
    marks = (WEBRTC_BEGIN, WEBRTC_END) if is_webrtc(doc) else (BEGIN, END)
    new = replace_block(old, render(doc), *marks)
    if args.check:
        return int(new != old)
    if new != old:
        args.readme.write_text(new)
    print(f"{args.readme}: matrix {'updated' if new != old else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
