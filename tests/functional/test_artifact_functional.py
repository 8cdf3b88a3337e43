"""`callctl build --artifact` on the real build: what the ansible play will deploy."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from callctl import paths
from callctl.build import artifact
from callctl.build.builder import BuildResult

pytestmark = [pytest.mark.slow, pytest.mark.asterisk]

RUNTIME_DEFAULTS = paths.REPO_ROOT / "ansible/roles/asterisk_runtime/defaults/main.yml"


@pytest.fixture(scope="module")
def packed(asterisk_build: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("artefact")
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "build", "--json", "--artifact", str(out)],
        capture_output=True,
        text=True,
        cwd=paths.REPO_ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_cli_packs_the_build_reproducibly(
    asterisk_build: BuildResult, packed: dict[str, Any], tmp_path: Path
) -> None:
    assert packed["reused"] is True and packed["key"] == asterisk_build.key
    art = artifact.verify(Path(packed["artifact"]["path"]))
    assert art.sha256 == packed["artifact"]["sha256"]
    version = asterisk_build.manifest["versions"]["asterisk"]
    assert art.name == f"asterisk-{version}-{asterisk_build.key}"

    names = {m.name for m in artifact.members(art.path)}
    for module in asterisk_build.manifest["modules"]["installed"]:
        assert f"{art.name}/prefix/lib/asterisk/modules/{module}.so" in names
    assert f"{art.name}/prefix/sbin/asterisk" in names

    # The same build packed again is the same artefact, byte for byte.
    again = artifact.pack(asterisk_build.path, tmp_path)
    assert again.sha256 == art.sha256


def test_role_installs_every_package_the_build_needs(packed: dict[str, Any]) -> None:
    art = artifact.Artifact(Path(packed["artifact"]["path"]), packed["artifact"]["sha256"])
    with tarfile.open(art.path) as tar:
        f = tar.extractfile(f"{art.name}/artifact.json")
        assert f is not None
        runtime = json.loads(f.read())["runtime"]
    assert runtime["unresolved"] == [], runtime["unresolved"]
    # The build links these whatever its module set; a scan that misses them is broken.
    assert {"libjansson4", "libssl3", "libxml2", "libsqlite3-0"} <= set(runtime["packages"])
    listed = set(yaml.safe_load(RUNTIME_DEFAULTS.read_text())["asterisk_runtime_packages"])
    assert set(runtime["packages"]) <= listed, sorted(set(runtime["packages"]) - listed)
