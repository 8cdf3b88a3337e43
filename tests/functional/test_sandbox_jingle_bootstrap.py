"""`bash bootstrap.sh up` brings up the whole gateway (sandbox Asterisk with res_xmpp and
chan_motif, prosody, the demo echo number, the routing daemon with the gateway's component):
`callctl probe` then passes with no target arguments, and `sandbox down` leaves nothing of
it running. Runs in this checkout (its set-up step is a no-op when the venv is current)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
from callctl import paths
from callctl.sandbox import netns
from callctl.sandbox.prosody import is_our_prosody
from support.callctl_process import run_callctl

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

# The set-up step may reinstall the venv when pyproject.toml changed: allow for it.
READY_TIMEOUT = 900.0
PORTS = ("--http-port", "0", "--ami-port", "0", "--sip-port", "0")  # not the default ports


def test_bootstrap_up_starts_the_gateway_and_the_probe_passes(
    asterisk_build: object, tmp_path: Path
) -> None:
    del asterisk_build  # built (or reused) by the session: bootstrap then reuses it
    name = f"tb{secrets.token_hex(3)}"
    log = tmp_path / "bootstrap.log"
    env = {**os.environ, "CALLCTL_SANDBOX": name, "CALLCTL_API": "127.0.0.1:0"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "bootstrap.sh", "up", *PORTS],
            cwd=paths.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    state = None
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(
            s in log.read_text(errors="replace")
            for s in ("event=xmppgw.connected", "registered=True")
        ):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        status = run_callctl("sandbox", "status", "--name", name, "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert state["xmpp"]["gateway_domain"] == "gw.localhost"
        probe = run_callctl("probe", "--sandbox", name)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert probe.stdout.strip().endswith("probe passed")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # the exec'd `callctl run`: drains and stops
            proc.wait(60)
        down = run_callctl("sandbox", "down", "--name", name)
        assert down.returncode == 0, down.stderr
    j = state["xmpp"] if state else None
    assert j is not None
    assert not netns.exists(j["netns"]["name"])
    assert not any(
        is_our_prosody(int(p), Path(state["root"]) / "prosody" / "prosody.cfg.lua")
        for p in os.listdir("/proc")
        if p.isdigit()
    )
