"""The `callctl` front: fast start, exit statuses, JSON errors."""

from __future__ import annotations

import json
import subprocess
import sys

from callctl.cli import Console, main
from callctl.daemon import cli as daemon_cli


def test_building_the_parser_imports_no_heavy_library() -> None:
    # Every command pays for what the parser imports; aiohttp alone costs ~150 ms.
    code = (
        "import sys, callctl.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('aiohttp', 'jinja2', 'urllib.request') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_daemon_cli_names_the_same_ari_environment_variable() -> None:
    from callctl.asterisk.connect import ENV_URL

    assert daemon_cli.ENV_URL == ENV_URL


def test_usage_error_maps_to_exit_2_and_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "spec.yaml"
    bad.write_text("asterisk: {kind: git}\n")
    status = main(["build", "--spec", str(bad), "--json"], Console())
    assert status == 2
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == "1" and out["kind"] == "error" and out["type"] == "UsageError"
    assert "asterisk.kind" in out["error"]
