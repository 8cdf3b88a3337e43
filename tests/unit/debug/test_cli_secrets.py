"""`callctl debug` takes the AMI secret from a 0600 file or the environment, never from the
command line, where every local user reads it (`ps`, /proc/PID/cmdline): issue 16 item 7."""

from __future__ import annotations

import io

import pytest
from callctl.cli import Console, main


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(stdout=out, stderr=err))
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("form", [["--ami-secret", "hunter2"], ["--ami-secret=hunter2"]])
@pytest.mark.parametrize("action", ["on", "off", "status", "expire"])
def test_a_secret_on_the_command_line_is_refused(ami, tmp_path, monkeypatch, capsys, form, action):
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CALLCTL_AMI_PORT", str(ami.port))
    with pytest.raises(SystemExit) as info:
        cli("debug", action, *form)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--ami-secret-file" in err and "CALLCTL_AMI_SECRET" in err
    assert "hunter2" not in err
    assert ami.logins == 0


def test_the_secret_from_a_0600_file(ami, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path / "st"))
    monkeypatch.delenv("CALLCTL_AMI_SECRET", raising=False)
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text("s3cret\n")
    flags = ["--ami-port", str(ami.port), "--ami-user", "callctl", "--ami-secret-file", str(secret)]
    rc, _, err = cli("debug", "on", "--for", "60s", *flags)
    assert rc == 0, err
    rc, out, err = cli("debug", "off", *flags)
    assert rc == 0 and "prior state restored" in out, err
    secret.chmod(0o644)
    rc, _, err = cli("debug", "on", *flags)
    assert rc == 2 and "readable by others" in err


def test_the_secret_from_the_environment(ami, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path / "st"))
    monkeypatch.setenv("CALLCTL_AMI_PORT", str(ami.port))
    monkeypatch.setenv("CALLCTL_AMI_USER", "callctl")
    monkeypatch.setenv("CALLCTL_AMI_SECRET", "s3cret")
    assert cli("debug", "on", "--for", "60s")[0] == 0
    assert cli("debug", "off")[0] == 0
