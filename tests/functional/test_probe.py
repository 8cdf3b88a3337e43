"""`callctl probe` (builtin and chromium clients) against a real Jingle sandbox (prosody, the
patched Asterisk with res_xmpp + chan_motif, the demo trunk) and the routing daemon serving
the gateway's component, as `bash bootstrap.sh up` runs them: the echo number passes every
stage; a number that rings and never answers fails at the ringing stage."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callctl.sandbox import manager
from callctl.sandbox.jingle import SILENT_NUMBER, JingleOptions

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

DAEMON_READY_TIMEOUT = 60.0


def _callctl(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _debug_on(name: str) -> bool:
    from callctl.asterisk.ami import AmiConfig
    from callctl.debug.service import DebugService
    from callctl.sandbox.state import read_state

    st = read_state(name)
    assert st is not None
    ami = AmiConfig(st.bind_address, st.ami_port, st.ami_user, st.ami_secret)
    return bool(DebugService(ami).status()["on"])


@pytest.fixture(scope="module")
def gateway(asterisk_build: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Jingle sandbox and `callctl run` with its component; yields the sandbox name."""
    name = f"tp{secrets.token_hex(3)}"
    sb = manager.up(asterisk_build, manager.SandboxOptions(name=name, jingle_demo=JingleOptions()))
    log = tmp_path_factory.mktemp("probe") / "daemon.log"
    daemon: subprocess.Popen[bytes] | None = None
    try:
        j = sb.state.jingle
        assert j is not None
        env = {
            **os.environ,
            "CALLCTL_XMPP_SECRET": Path(j["component_secret_file"]).read_text().strip(),
        }
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [
                    *(sys.executable, "-m", "callctl", "run", "--sandbox", name),
                    *("--config", j["routing_config"], "--xmpp-component", j["component"]),
                    *("--listen", "127.0.0.1:0", "--no-debug-watch"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + DAEMON_READY_TIMEOUT
        while "event=xmppgw.connected" not in log.read_text(errors="replace"):
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        while "registered=True" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield name
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(30)
        sb.stop()


def test_the_builtin_probe_passes_every_stage_against_the_sandbox(
    gateway: str, tmp_path: Path
) -> None:
    metrics = tmp_path / "probe.prom"
    proc = _callctl("probe", "--sandbox", gateway, "--client", "builtin", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] and doc["failed_stage"] is None, doc
    times = {e["event"]: e["seconds"] for e in doc["events"]}
    for event in ("login", "session-initiate", "accept", "ice", "audio-out", "audio-in", "hangup"):
        assert times[event] is not None, event
    # The patched build's gateway advertises DTLS, so the probe offered it (as clients do):
    # the handshake completed and the echoed audio came back as SRTP it could decrypt.
    assert times["dtls"] is not None
    # It also advertises JMI: the call started with a <propose/> the gateway proceeded.
    assert times["propose"] is not None
    order = ["propose", "session-initiate", "accept", "ice", "dtls", "audio-out", "audio-in"]
    order.append("hangup")
    assert [times[e] for e in order] == sorted(times[e] for e in order)
    assert doc["to"] == "+15550100100@gw.localhost"
    # Debug logging was on for the call only: its log holds the call's ICE session(s).
    ice = doc["ice"]
    assert ice is not None and ice["sessions_total"] >= 1, ice
    assert ice["outcomes"].get("success", 0) >= 1 and not ice["findings"], ice
    assert not _debug_on(gateway), "the probe left debug logging on"
    # Text output and the metrics file of the same kind of run.
    proc = _callctl("probe", "--sandbox", gateway, "--client", "builtin", "--metrics", str(metrics))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("probe passed")
    assert "ICE analysis (" in proc.stdout, proc.stdout
    assert f'callctl_probe_success{{target="sandbox:{gateway}"}} 1' in metrics.read_text()


def test_a_number_that_never_answers_fails_at_the_ringing_stage(gateway: str) -> None:
    proc = _callctl(
        *("probe", "--sandbox", gateway, "--client", "builtin", "--to", SILENT_NUMBER),
        *("--answer-timeout", "4", "--json"),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["failed_stage"] == "ringing", doc
    assert doc["error"] == "not answered within 4 s (it rang)"
    times = {e["event"]: e["seconds"] for e in doc["events"]}
    assert times["ringing"] is not None and times["accept"] is None
    text = _callctl(
        *("probe", "--sandbox", gateway, "--client", "builtin", "--to", SILENT_NUMBER),
        *("--answer-timeout", "2"),
    )
    assert text.returncode == 1
    assert "probe failed at stage ringing: not answered within 2 s (it rang)" in text.stdout


def test_headless_chromium_passes_every_stage_with_audio_both_ways(gateway: str) -> None:
    """The browser (the StanzaJS page of the real-client tests) runs in the sandbox's
    namespace: JMI proposal, session-initiate, accept, ICE, DTLS, audio out and back by
    getStats, hangup, with the ICE analysis of the call."""
    proc = _callctl("probe", "--sandbox", gateway, "--client", "chromium", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["client"] == {"name": "chromium", "reason": "asked for (--client chromium)"}
    assert doc["passed"] and doc["failed_stage"] is None, doc
    times = {e["event"]: e["seconds"] for e in doc["events"]}
    order = ["login", "propose", "session-initiate", "accept", "ice", "dtls", "audio-out"]
    order += ["audio-in", "hangup"]
    assert all(times[e] is not None for e in order), times
    assert [times[e] for e in order] == sorted(times[e] for e in order)
    media = doc["media"]
    assert media["packetsSent"] > 0 and media["bytesSent"] > 0, media
    assert media["packetsReceived"] > 0 and media["bytesReceived"] > 0, media
    assert media["codec"] == "audio/PCMU", media
    ice = doc["ice"]
    assert ice is not None and ice["sessions_total"] >= 1, ice
    assert ice["outcomes"].get("success", 0) >= 1, ice
    assert not _debug_on(gateway), "the probe left debug logging on"


def test_headless_chromium_against_a_number_that_never_answers_fails_at_ringing(
    gateway: str,
) -> None:
    proc = _callctl(
        *("probe", "--sandbox", gateway, "--client", "chromium", "--to", SILENT_NUMBER),
        *("--answer-timeout", "4", "--no-debug"),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("client: chromium (asked for (--client chromium))")
    assert "probe failed at stage ringing: not answered within 4 s (it rang)" in proc.stdout


def test_auto_takes_chromium_when_installed_and_says_so(gateway: str) -> None:
    proc = _callctl("probe", "--sandbox", gateway, "--no-debug", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["client"]["name"] == "chromium", doc["client"]
    assert doc["client"]["reason"].startswith("auto: "), doc["client"]
    assert doc["passed"], doc


def test_without_the_npm_packages_chromium_says_what_to_run_and_auto_takes_builtin(
    gateway: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CALLCTL_CACHE": str(tmp_path / "cache")}  # nothing installed there
    proc = _callctl("probe", "--sandbox", gateway, "--client", "chromium", env=env)
    assert proc.returncode == 6, proc.stdout + proc.stderr  # ExitStatus.UNAVAILABLE
    assert "the chromium probe client cannot run here: missing " in proc.stderr
    assert f"{tmp_path}/cache/browser/" in proc.stderr
    assert "run `callctl probe --install-browser`" in proc.stderr
    proc = _callctl("probe", "--sandbox", gateway, "--no-debug", "--json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["client"]["name"] == "builtin", doc["client"]
    assert doc["client"]["reason"].startswith("auto: chromium cannot run here (missing ")
    assert doc["passed"] and doc["media"] is None, doc


def test_the_probe_reaches_a_gateway_given_by_a_config_file_as_a_canary_would(
    gateway: str, tmp_path: Path
) -> None:
    """The deployed-gateway path (no sandbox state read): server, account, password file,
    number and media address from a config file; media from the veth's host address (the
    only address Asterisk offers), never the machine's own."""
    from callctl.sandbox.state import read_state

    st = read_state(gateway)
    assert st is not None and st.jingle is not None
    j = st.jingle
    password = tmp_path / "pw"
    password.write_text(j["accounts"][1]["password"] + "\n")
    config = tmp_path / "probe.yaml"
    config.write_text(
        f"server: {j['c2s']}\n"
        f"jid: {j['accounts'][1]['jid']}\n"
        f"password_file: {password}\n"
        f'to: "{j["echo_number"]}"\n'
        f"gateway_domain: {j['gateway_domain']}\n"
        f"media_address: {j['netns']['host_addr']}\n"
        "plaintext: true\n"
    )
    metrics = tmp_path / "canary.prom"
    proc = _callctl("probe", "--config", str(config), "--metrics", str(metrics), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] and doc["target"] == j["c2s"], doc
    assert f'callctl_probe_success{{target="{j["c2s"]}"}} 1' in metrics.read_text()
    # A wrong password fails at login, with the server's refusal as the reason.
    password.write_text("wrong\n")
    proc = _callctl("probe", "--config", str(config), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["failed_stage"] == "login", doc
    assert "refused" in doc["error"], doc


def test_media_sockets_that_cannot_open_fail_the_probe_with_the_reason(gateway: str) -> None:
    from callctl.sandbox.state import read_state

    st = read_state(gateway)
    assert st is not None and st.jingle is not None
    j = st.jingle
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "callctl", "probe", "--json", "--plaintext"),
            *("--server", j["c2s"], "--jid", j["accounts"][0]["jid"], "--to", j["echo_number"]),
            *("--gateway-domain", j["gateway_domain"]),
            *("--media-address", "192.0.2.1"),  # TEST-NET-1: never an address of this machine
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CALLCTL_PROBE_PASSWORD": j["accounts"][0]["password"]},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["failed_stage"] == "session-initiate", doc
    assert doc["error"].startswith("cannot open the media sockets:"), doc


def test_like_gajim_the_probe_calls_without_jmi_and_with_plain_rtp(gateway: str) -> None:
    proc = _callctl(
        *("probe", "--sandbox", gateway, "--dtls", "off", "--jmi", "off", "--no-debug", "--json")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    events = {e["event"]: e for e in doc["events"]}
    assert events["dtls"]["seconds"] is None
    assert events["dtls"]["note"] == "not used (--dtls off)"
    assert events["propose"]["seconds"] is None
    assert events["propose"]["note"] == "not used (--jmi off)"
    assert doc["passed"]
