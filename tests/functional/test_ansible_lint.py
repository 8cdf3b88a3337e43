"""The ansible tree is lint-clean and the playbook parses with the ansible that runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from callctl import paths

ANSIBLE = paths.REPO_ROOT / "ansible"
# ansible-lint comes from PyPI into the venv (Debian 12's 6.13 is too old); the playbook
# runs with Debian's ansible (see test_ansible_deploy.py).
ANSIBLE_LINT = Path(sys.executable).with_name("ansible-lint")
ANSIBLE_PLAYBOOK = Path("/usr/bin/ansible-playbook")


def _env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
    }


@pytest.mark.slow
def test_ansible_lint_default_profile_is_clean() -> None:
    if not ANSIBLE_LINT.exists():
        pytest.skip("ansible-lint is not installed in the venv (pip install ansible-lint)")
    proc = subprocess.run(
        [str(ANSIBLE_LINT), "--offline", "--nocolor", "."],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    # Be sure it linted the roles rather than finding nothing to look at.
    assert "0 failure(s), 0 warning(s)" in proc.stderr + proc.stdout
    assert "files processed" in proc.stderr + proc.stdout


def test_playbook_syntax_with_debian_ansible(tmp_path: Path) -> None:
    assert ANSIBLE_PLAYBOOK.exists(), "install Debian's ansible (scripts/install-deps.sh)"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("callctl_gateways:\n  hosts:\n    gw1:\n")
    cfg = tmp_path / "ansible.cfg"
    cfg.touch()
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "--syntax-check", "-i", str(inventory), str(ANSIBLE / "site.yml")],
        capture_output=True,
        text=True,
        env={**_env(), "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_documents_every_role_variable() -> None:
    """The README's variables table names every role default: docs cannot drift from roles."""
    readme = (paths.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    parts = readme.split("\n## Deploying to hosts (ansible)\n", 1)
    assert len(parts) == 2, "README lacks the deployment section"
    section = parts[1].split("\n## ", 1)[0]
    for role in sorted((ANSIBLE / "roles").iterdir()):
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        for name in defaults:
            assert f"`{name}`" in section, f"{role.name}: {name} is not in the README table"


def test_example_inventory_routing_config_is_valid() -> None:
    """The play checks callctl_routing with `callctl config check`; the example must pass."""
    from callctl.routing.config import parse_config

    group_vars = ANSIBLE / "inventory.example/group_vars/callctl_gateways/main.yml"
    routing = yaml.safe_load(group_vars.read_text())["callctl_routing"]
    _, issues = parse_config(yaml.safe_dump(routing))
    assert issues == []
