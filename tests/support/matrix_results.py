"""The results file of an interop matrix: one column per build, merged into the JSON that
scripts/matrix_table.py renders into README.md (the emulated and the real-client rows share
the format)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def save_column(
    path: Path, flavour: str, build: Any, cells: list[dict[str, Any]], runtime: float
) -> None:
    """Merge this build's column into the results file (the other columns are kept; a file
    of another version or not JSON is replaced)."""
    doc: dict[str, Any] = {"version": 1, "columns": {}}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            if old.get("version") == 1:
                doc = old
        except ValueError:
            pass
    manifest = build.manifest
    doc["columns"][flavour] = {
        "build": build.key,
        "asterisk": manifest.get("versions", {}).get("asterisk"),
        "patches": [
            p["name"]
            for kind in ("asterisk", "pjproject")
            for p in manifest.get("patches", {}).get(kind, [])
        ],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "runtime_s": round(runtime, 1),
        "cells": cells,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
