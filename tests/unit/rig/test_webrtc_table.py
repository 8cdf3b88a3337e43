"""scripts/matrix_table.py on real-client results (tests/functional/test_webrtc_matrix.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from callctl.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "matrix_table", REPO_ROOT / "scripts" / "matrix_table.py"
)
assert _spec is not None and _spec.loader is not None
matrix_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix_table)


def cell(passed: bool, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "profile": "chromium-webrtc",
        "direction": "out",
        "answer": "ring60",
        "passed": passed,
        "browser": "Chrome/156",
        "connection": "connected" if passed else "",
        "dtls": "connected" if passed else "",
        "rtp": {
            "window_s": 5.0,
            "received_by_browser": 251 if passed else 0,
            "sent_by_browser": 250 if passed else 0,
            "asterisk_to_phone": 252 if passed else None,
            "phone_to_asterisk": 252 if passed else None,
            "echoed_by_sipp": 252 if passed else None,
        },
        "terminate_reason": "" if passed else "failed-transport",
        "error": "",
        "analyzer": [] if passed else ["webrtc-fingerprint-as-candidate"],
        "nominations": {},
    }
    base.update(extra)
    return base


def doc(stock: dict[str, Any], patched: dict[str, Any]) -> dict[str, Any]:
    col = {"build": "k", "asterisk": "22.10.1", "patches": [], "finished": "t", "runtime_s": 1}
    return {
        "version": 1,
        "columns": {"stock": {**col, "cells": [stock]}, "patched": {**col, "cells": [patched]}},
    }


def test_real_client_rows_show_the_browser_verdict_and_the_analyzer() -> None:
    table = matrix_table.render(doc(cell(False), cell(True)))
    row = next(line for line in table.splitlines() if line.startswith("| chromium-webrtc"))
    assert "after 60 s ringing" in row
    assert "**FAIL**: Jingle session-terminate (failed-transport)" in row
    assert "`webrtc-fingerprint-as-candidate`" in row
    assert "pass: DTLS-SRTP; audio 251/250 in 5 s, phone leg 252/252, SIPp echoed 252" in row
    assert "Chrome/156" in table


def test_the_capture_figures_of_the_conversations_cell_are_shown() -> None:
    nom = {"requests": 6, "nomination": 1, "use_candidate": 0}
    table = matrix_table.render(doc(cell(False), cell(True, nominations=nom)))
    assert "NOMINATION in 1 of 6 checks, USE-CANDIDATE in 0" in table


def test_real_client_results_go_to_their_own_block(tmp_path: Path) -> None:
    results = tmp_path / "webrtc.json"
    results.write_text(json.dumps(doc(cell(False), cell(True))))
    readme = tmp_path / "README.md"
    emulated = f"{matrix_table.BEGIN}\nemulated\n{matrix_table.END}\n"
    readme.write_text(f"{matrix_table.WEBRTC_BEGIN}\nold\n{matrix_table.WEBRTC_END}\n{emulated}")
    assert matrix_table.main([str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.endswith(emulated)  # the emulated table is untouched
    assert "| chromium-webrtc |" in text and "old" not in text
