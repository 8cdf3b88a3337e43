"""`callctl sandbox up --jingle` / `status --json` / `down` against the real build and prosody:
everything it starts is reachable, and `down` stops exactly that (nothing else)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from callctl.sandbox import manager, netns
from callctl.sandbox.jingle import JingleOptions
from callctl.sandbox.prosody import ProsodyServer, free_port, is_our_prosody
from callctl.sandbox.state import read_state, write_state
from support.callctl_process import run_callctl

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


def _xmpp_stream_ok(hostport: str, domain: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(
            f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".encode()
        )
        s.settimeout(5)
        return b"stream:features" in s.recv(4096)


@contextmanager
def jingle_sandbox(build: Any) -> Iterator[tuple[str, manager.Sandbox, dict[str, Any]]]:
    """`sandbox up --jingle` under a fresh name: (name, sandbox, its jingle state); the
    sandbox is stopped at the end."""
    name = f"tj{secrets.token_hex(3)}"
    sb = manager.up(build, manager.SandboxOptions(name=name, jingle_demo=JingleOptions()))
    try:
        assert sb.state.jingle is not None
        yield name, sb, sb.state.jingle
    finally:
        sb.stop()


@pytest.fixture
def decoy_prosody(tmp_path: Path) -> Iterator[ProsodyServer]:
    """A prosody this sandbox did not start: `down` must leave it running."""
    server = ProsodyServer(tmp_path / "decoy", free_port(), "decoy.test")
    server.root.mkdir()
    server.write_config()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_up_jingle_status_and_down_stop_everything_it_started_and_nothing_else(
    asterisk_build: Any, decoy_prosody: ProsodyServer
) -> None:
    with jingle_sandbox(asterisk_build) as (name, sb, real):
        real = dict(real)
        try:
            status = run_callctl("sandbox", "status", "--name", name, "--json")
            assert status.returncode == 0, status.stderr
            x = json.loads(status.stdout)["xmpp"]
            assert x["version"] == 1
            assert x["domain"] == "localhost" and x["gateway_domain"] == "gw.localhost"
            assert x["c2s"].startswith("127.0.0.1:") and x["websocket"].startswith(
                "ws://127.0.0.1:"
            )
            assert [a["jid"] for a in x["accounts"]] == ["alice@localhost", "bob@localhost"]
            assert all(len(a["password"]) >= 12 for a in x["accounts"])
            assert x["echo_number"] == "+15550100100"
            # The component's and Asterisk's secrets stay private (only the 0600 file's path).
            assert sb.state.jingle is not None
            component_secret = Path(sb.state.jingle["component_secret_file"]).read_text().strip()
            assert component_secret not in status.stdout
            assert "secret =" not in status.stdout
            xmpp_conf = (Path(sb.root) / "etc" / "xmpp.conf").read_text()
            asterisk_secret = xmpp_conf.split("secret = ", 1)[1].split()[0]
            assert asterisk_secret not in status.stdout
            # prosody answers c2s; Asterisk's res_xmpp is logged in; Motif endpoint loaded.
            assert _xmpp_stream_ok(x["c2s"], "localhost")
            # A client inside the namespace logs in at the veth address (it cannot reach the
            # root namespace's loopback).
            host, port = x["namespace_c2s"].rsplit(":", 1)
            inside = subprocess.run(
                [
                    *("ip", "netns", "exec", x["netns"]["name"], sys.executable, "-c"),
                    "import socket,sys; "
                    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5);"
                    "s.sendall(b\"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\");"
                    "s.settimeout(5); print(s.recv(4096).decode(errors='replace'))",
                    host,
                    port,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert "stream:features" in inside.stdout, inside.stdout + inside.stderr
            assert "Connected" in sb.rx("xmpp show connections")
            assert "Running" in sb.rx("module show like chan_motif.so")
            # The secret files are 0600; the namespace exists with the /30 Asterisk offers.
            jingle = sb.state.jingle
            assert jingle is not None
            for path in (
                Path(sb.root) / "etc" / "xmpp.conf",
                Path(jingle["component_secret_file"]),
            ):
                assert path.stat().st_mode & 0o777 == 0o600, path
            assert netns.exists(jingle["netns"]["name"])
            assert (
                f"ice_permit = {jingle['netns']['subnet']}"
                in (Path(sb.root) / "etc" / "rtp.conf").read_text()
            )
            prosody_pid = jingle["prosody_pid"]
            prosody_conf = Path(jingle["prosody_root"]) / "prosody.cfg.lua"
            assert is_our_prosody(prosody_pid, prosody_conf)

            # A state file pointing at the decoy's pid (a reused pid) must not get it killed:
            # the pid is checked against its command line.
            assert decoy_prosody.proc is not None
            sb.state.jingle = {**jingle, "prosody_pid": decoy_prosody.proc.pid}
            write_state(sb.state)
            down = run_callctl("sandbox", "down", "--name", name, "--json")
            assert down.returncode == 0, down.stderr
            assert json.loads(down.stdout)["stopped"] is True
            assert decoy_prosody.proc.poll() is None, "down killed a prosody it did not start"
            assert not sb.is_running()
            assert not netns.exists(jingle["netns"]["name"])
            assert read_state(name) is None
            # The sandbox's own prosody was not in the (tampered) state: stop it as down would.
            from callctl.sandbox import jingle as sbjingle

            assert is_our_prosody(prosody_pid, prosody_conf)
            assert sbjingle.stop(real) is True
            assert not is_our_prosody(prosody_pid, prosody_conf)
        finally:
            sb.state.jingle = real  # stop() then stops (or reaps) the sandbox's own prosody


def test_down_stops_the_sandboxs_prosody(asterisk_build: Any) -> None:
    with jingle_sandbox(asterisk_build) as (name, sb, jingle):
        pid, conf = jingle["prosody_pid"], Path(jingle["prosody_root"]) / "prosody.cfg.lua"
        assert is_our_prosody(pid, conf)
        down = run_callctl("sandbox", "down", "--name", name)
        assert down.returncode == 0, down.stderr
        assert not is_our_prosody(pid, conf)
        assert not sb.is_running() and not netns.exists(jingle["netns"]["name"])
        assert not os.path.exists(f"/proc/{pid}/cmdline") or not is_our_prosody(pid, conf)


def test_up_after_a_crash_cleans_up_what_the_crashed_sandbox_left(asterisk_build: Any) -> None:
    """Asterisk killed (state file left): the next `up` with that name stops the old
    prosody and reuses the namespace's name instead of failing on it."""
    with jingle_sandbox(asterisk_build) as (name, first, old):
        second = None
        try:
            os.kill(first.pid, 9)
            manager._CHILDREN.pop(first.pid).wait()  # reap it, as a crash would leave no zombie
            assert not first.is_running()
            old_conf = Path(old["prosody_root"]) / "prosody.cfg.lua"
            assert is_our_prosody(old["prosody_pid"], old_conf)
            second = manager.up(
                asterisk_build, manager.SandboxOptions(name=name, jingle_demo=JingleOptions())
            )
            assert not is_our_prosody(old["prosody_pid"], old_conf)
            new = second.state.jingle
            assert new is not None and netns.exists(new["netns"]["name"])
            assert "Connected" in second.rx("xmpp show connections")
        finally:
            if second is not None:
                second.stop()


def test_down_after_asterisk_died_still_stops_prosody_and_says_so(asterisk_build: Any) -> None:
    with jingle_sandbox(asterisk_build) as (name, sb, j):
        os.kill(sb.pid, 9)
        manager._CHILDREN.pop(sb.pid).wait()
        down = run_callctl("sandbox", "down", "--name", name, "--json")
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout)["stopped"] is True  # prosody was still running
        assert not is_our_prosody(j["prosody_pid"], Path(j["prosody_root"]) / "prosody.cfg.lua")
        assert not netns.exists(j["netns"]["name"])


def test_prosody_does_not_depend_on_the_callers_working_directory(tmp_path: Path) -> None:
    """prosodyctl resolves paths from its working directory and fails when that is gone
    (seen in CI when a checkout was removed under a running suite): it runs in its own."""
    gone = tmp_path / "gone"
    gone.mkdir()
    root = tmp_path / "prosody"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from callctl.sandbox.prosody import ProsodyServer, free_port\n"
        "os.chdir(sys.argv[1]); os.rmdir(sys.argv[1])\n"
        "s = ProsodyServer(Path(sys.argv[2]), free_port(), 'localhost')\n"
        "s.root.mkdir()\n"
        "s.write_config()\n"
        "print(s.register('alice', 'pw').jid)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(gone), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "alice@localhost"
