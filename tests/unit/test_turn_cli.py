"""`callctl turn check` and `callctl turn rotate --no-reload` (no Asterisk needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from callctl.cli import Console, main
from callctl.turn.include import parse


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), Console(stdout=out, stderr=io.StringIO()))
    return status, out.getvalue()


def _config(tmp_path: Path, extra: str = "") -> Path:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    path = tmp_path / "turn.yaml"
    path.write_text(
        f"version: 1\nserver: 192.0.2.10\nsecret_file: {secret}\n"
        f"include: {tmp_path / 'turn' / 'rtp-turn.conf'}\n{extra}"
    )
    return path


def test_check_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = _config(tmp_path, "ttl: 5\nuser: 'a b'\n")
    status, out = _run("turn", "check", str(path))
    assert status == 2
    assert f"{path}:5:" in out and f"{path}:6:" in out and "2 errors" in out
    status, out = _run("turn", "check", "--json", str(_config(tmp_path)))
    assert status == 0 and json.loads(out)["valid"] is True


def test_rotate_no_reload_writes_the_include_then_keeps_it(tmp_path: Path) -> None:
    path = _config(tmp_path)
    status, out = _run("turn", "rotate", "--json", "--config", str(path), "--no-reload")
    doc = json.loads(out)
    assert status == 0 and doc["issued"] is True and doc["reloaded"] is False
    include = Path(doc["include"])
    written = parse(include.read_text())
    assert written is not None and written.username == doc["username"]
    assert doc["expires"] == written.expires and doc["server"] == "192.0.2.10:3478"
    status, out = _run("turn", "rotate", "--json", "--config", str(path), "--no-reload")
    assert json.loads(out)["issued"] is False  # not due: the same credential stays
    status, out = _run("turn", "rotate", "--config", str(path), "--no-reload", "--force")
    assert status == 0 and "issued (forced)" in out


def test_rotate_needs_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCTL_TURN_CONFIG", raising=False)
    status, _ = _run("turn", "rotate", "--no-reload")
    assert status == 2
