"""Where ARI and AMI are and who logs in: flags > environment > file > sandbox > defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from callctl.asterisk.connect import ari_from_env, ari_from_file, resolve_ami, resolve_ari
from callctl.errors import StateError, UsageError

SECRET = "s3cret-Password"


def test_from_env() -> None:
    env = {
        "CALLCTL_ARI_URL": "http://127.0.0.1:8088/ari",
        "CALLCTL_ARI_USER": "u",
        "CALLCTL_ARI_PASSWORD": SECRET,
    }
    creds = ari_from_env(env)
    assert (creds.base, creds.user, creds.password, creds.app) == (
        "http://127.0.0.1:8088/ari",
        "u",
        SECRET,
        "callctl",
    )
    with pytest.raises(UsageError, match="CALLCTL_ARI_PASSWORD"):
        ari_from_env({**env, "CALLCTL_ARI_PASSWORD": ""})


def test_from_file_requires_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "ari.env"
    path.write_text(
        "# ARI\nCALLCTL_ARI_URL=http://127.0.0.1:8088/ari/\n"
        f"CALLCTL_ARI_USER = callctl\nCALLCTL_ARI_PASSWORD={SECRET}\n"
    )
    os.chmod(path, 0o640)
    with pytest.raises(UsageError, match="readable by others") as caught:
        ari_from_file(path)
    assert caught.value.hint == f"chmod 600 {path}"
    os.chmod(path, 0o600)
    creds = ari_from_file(path)
    assert (creds.base, creds.user, creds.password) == (
        "http://127.0.0.1:8088/ari",
        "callctl",
        SECRET,
    )
    path.write_text("CALLCTL_ARI_URL\n")
    with pytest.raises(UsageError, match=r":1: expected KEY=value"):
        ari_from_file(path)
    with pytest.raises(UsageError, match="does not exist"):
        ari_from_file(tmp_path / "nope")


def test_resolve_ari_precedence(tmp_path: Path) -> None:
    env = {
        "CALLCTL_ARI_URL": "http://127.0.0.1:8088/ari",
        "CALLCTL_ARI_USER": "env",
        "CALLCTL_ARI_PASSWORD": SECRET,
    }
    box = Box()
    assert resolve_ari(env=env, sandbox=lambda: box).user == "env"  # environment > sandbox
    assert resolve_ari(env=env, sandbox=lambda: box, sandbox_named=True).user == "sb"
    assert resolve_ari(env={}, sandbox=lambda: box).base == "http://127.0.0.9:8088/ari"
    path = tmp_path / "ari.env"
    path.write_text(
        "CALLCTL_ARI_URL=http://127.0.0.2/ari\nCALLCTL_ARI_USER=file\nCALLCTL_ARI_PASSWORD=x\n"
    )
    path.chmod(0o600)
    assert resolve_ari(credentials_file=path, env=env, sandbox=lambda: box).user == "file"
    with pytest.raises(UsageError, match="no ARI connection"):
        resolve_ari(env={}, sandbox=lambda: None)

    def absent() -> Box:
        raise StateError("no sandbox named 'default' is running")

    with pytest.raises(StateError):  # asked for (no other source): its absence is the error
        resolve_ari(env={}, sandbox=absent)


class Box:
    """A sandbox's endpoints, as callctl.sandbox.state.Connection has them."""

    ami_host, ami_port, ami_user, ami_secret = "127.0.0.9", 7777, "sb", "x"
    ari_url, ari_user, ari_password = "http://127.0.0.9:8088/ari", "sb", "y"


def test_resolve_ami_precedence(tmp_path: Path) -> None:
    env = {"CALLCTL_AMI_HOST": "10.1.1.1", "CALLCTL_AMI_PORT": "6000", "CALLCTL_AMI_SECRET": "e"}
    c = resolve_ami(env=env)
    assert (c.host, c.port, c.secret, c.source) == ("10.1.1.1", 6000, "e", "env")
    c = resolve_ami(host="127.0.0.2", port=7000, env=env)
    assert (c.host, c.port) == ("127.0.0.2", 7000)
    assert "secret=" not in repr(c)
    f = tmp_path / "secret"
    f.write_text("fromfile\n")
    f.chmod(0o644)
    with pytest.raises(UsageError, match="readable by others"):
        resolve_ami(secret_file=str(f), env={})
    f.chmod(0o600)
    assert resolve_ami(secret_file=str(f), env={}).secret == "fromfile"
    assert resolve_ami(env={"CALLCTL_AMI_SECRET_FILE": str(f)}).secret == "fromfile"
    assert "fromfile" not in repr(resolve_ami(secret_file=str(f), env={}))
    with pytest.raises(UsageError, match="port is not a number"):
        resolve_ami(env={"CALLCTL_AMI_PORT": "x"})
    assert resolve_ami(env={}).source == "defaults"


def test_resolve_ami_takes_what_the_sandbox_provider_gives() -> None:
    c = resolve_ami(env={}, sandbox=Box)
    assert (c.host, c.port, c.user, c.secret, c.source) == ("127.0.0.9", 7777, "sb", "x", "sandbox")
    c = resolve_ami(env={"CALLCTL_AMI_PORT": "6000"}, sandbox=Box)
    assert (c.host, c.port) == ("127.0.0.9", 6000)  # environment > sandbox, field by field

    def absent() -> Box:
        raise StateError("no sandbox named 'default' is running")

    assert resolve_ami(env={}, sandbox=absent).source == "defaults"  # AMI has defaults


def test_the_io_layer_imports_no_feature_package() -> None:
    code = (
        "import sys, callctl.asterisk.ari, callctl.asterisk.ami, callctl.asterisk.connect, "
        "callctl.asterisk.reconnect, callctl.asterisk.transport; "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('callctl.')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['asterisk', 'errors']"
