"""`callctl debug` prints each warning the service returns on stderr, prefixed, and still
succeeds: here the logger channel vanished between `on` and `off`."""

from __future__ import annotations

import io

from callctl.cli import Console, main
from support.fake_ami import FakeAmiServer


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(stdout=out, stderr=err))
    return rc, out.getvalue(), err.getvalue()


def test_off_warns_when_the_channel_was_already_gone(ami: FakeAmiServer, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CALLCTL_AMI_PORT", str(ami.port))
    monkeypatch.setenv("CALLCTL_AMI_USER", "callctl")
    monkeypatch.setenv("CALLCTL_AMI_SECRET", "s3cret")
    rc, _, err = cli("debug", "on", "--name", "dbg", "--for", "60s")
    assert rc == 0 and "warning" not in err, err
    ami.ast.channels.pop(0)  # someone ran `logger remove channel dbg`
    rc, out, err = cli("debug", "off")
    assert rc == 0 and "prior state restored" in out, err
    assert err.startswith("callctl: warning: logger channel 'dbg' was already gone"), err
