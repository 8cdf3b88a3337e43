"""Asterisk's own TURN relay with credentials callctl renews (issue 18 item 2).

The real patched Asterisk allocates a relay on the real coturn (use-auth-secret, in a rig
network of its own) for each new call, with the credential callctl's TurnRotator wrote into
the rtp.conf include. With a TTL of a few seconds: a call gets a relay candidate; once that
credential has expired and nothing renewed it, coturn refuses it and the next offer has no
relay (the test's own proof that it would fail without rotation); the rotator's loop (the
daemon's `turn-rotation` task) then issues a new one and reloads res_rtp_asterisk, the next
call has a relay again, and the loop renews the next credential before it expires. Then,
with a lifetime of an hour, the operator's paths: `callctl turn rotate --no-reload` before
Asterisk starts, `callctl run --turn-config`, and `callctl turn rotate --force`.

Each call is an outgoing PJSIP INVITE (ice_support) to a socket of this test that reads the
SDP offer and answers 486.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from callctl import paths
from callctl.asterisk.ami import AmiConfig
from callctl.sandbox.manager import Sandbox, free_port
from callctl.turn.include import TurnCredential
from callctl.turn.rotator import TurnRotator
from callctl.turn.settings import TurnSettings
from support.daemon_proc import DaemonProcess
from support.jingle.netns import rig_network
from support.jingle.originate import originate
from support.nat.coturn import Coturn, coturn
from support.nat.topology import TURN_PORT

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

TTL = 10  # renewed at half: 5 s of slack for the loop to wake, 10 s for the first call
WAIT = 30.0  # generous bounds on waits for events, never a speed target
USER = "asterisk"
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.I | re.M)


def _pjsip(sip_port: int, uas_port: int) -> str:
    return (
        "[transport-udp]\ntype = transport\nprotocol = udp\n"
        f"bind = 127.0.0.1:{sip_port}\n\n"
        "[peer]\ntype = endpoint\ntransport = transport-udp\ncontext = default\n"
        "disallow = all\nallow = ulaw\naors = peer\nice_support = yes\nrtcp_mux = yes\n\n"
        f"[peer]\ntype = aor\ncontact = sip:peer@127.0.0.1:{uas_port}\n"
    )


async def _offer(sb: Sandbox, uas: socket.socket, seen: set[str]) -> str:
    """Place one call to the test's socket; the SDP of its INVITE (answered 486)."""
    await originate(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret, "PJSIP/peer", "Wait", "5")
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            data, peer = await asyncio.wait_for(
                loop.sock_recvfrom(uas, 65535), deadline - time.monotonic()
            )
        except TimeoutError:
            break
        text = data.decode(errors="replace")
        found = _CALL_ID.search(text)
        if not text.startswith("INVITE ") or found is None or found.group(1) in seen:
            continue  # an ACK, or a retransmission of an INVITE already answered
        seen.add(found.group(1))
        uas.sendto(_busy(text), peer)
        return text.partition("\r\n\r\n")[2]
    log = sb.log_dir / "messages"
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"Asterisk sent no INVITE; its log ends:\n{tail}")


def _busy(invite: str) -> bytes:
    head = invite.partition("\r\n\r\n")[0].split("\r\n")[1:]
    keep = [h for h in head if h.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    keep = [f"{h};tag=uas" if h.lower().startswith("to:") else h for h in keep]
    return (
        "SIP/2.0 486 Busy Here\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _relay(sdp: str) -> bool:
    return any(" typ relay" in line for line in sdp.splitlines() if "a=candidate:" in line)


def _logged(server: Coturn, username: str, what: str) -> bool:
    """coturn logs a request's outcome for `username` (its line may follow its answer to
    Asterisk by a moment: waited for, up to WAIT)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        lines = server.log.splitlines()
        if any(f"user <{username}>" in ln and what in ln for ln in lines):
            return True
        time.sleep(0.05)
    return False


def _allocated(server: Coturn, username: str) -> bool:
    return _logged(server, username, "ALLOCATE processed, success")


async def _until_applied(rotator: TurnRotator, old: TurnCredential) -> TurnCredential:
    deadline = time.monotonic() + WAIT
    while rotator.applied is None or rotator.applied.username == old.username:
        assert time.monotonic() < deadline, f"no new credential applied (was {old.username})"
        await asyncio.sleep(0.1)
    return rotator.applied


@dataclass
class Rig:
    sb: Sandbox
    server: Coturn
    uas: socket.socket  # where Asterisk's INVITEs go (answered 486)
    settings: TurnSettings
    ami: AmiConfig


@contextlib.contextmanager
def _rig(
    sandbox_factory: object,
    tmp_path: Path,
    ttl: int,
    before_start: Callable[[TurnSettings], None] = lambda _: None,
) -> Iterator[Rig]:
    """coturn in a rig network of its own, Asterisk with `#tryinclude` of the include;
    `before_start(settings)` runs before Asterisk starts."""
    with (
        rig_network() as wan,
        coturn(wan) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as uas,
    ):
        secret_file = tmp_path / "turn-secret"
        secret_file.write_text(server.secret + "\n")
        secret_file.chmod(0o600)
        include = tmp_path / "turn" / "rtp-turn.conf"
        settings = TurnSettings(wan.host_addr, TURN_PORT, secret_file, include, USER, ttl)
        uas.bind(("127.0.0.1", 0))
        uas.setblocking(False)
        sip_port = free_port(kind=socket.SOCK_DGRAM)
        before_start(settings)
        sb = sandbox_factory(  # type: ignore[operator]
            configs={"pjsip.conf": _pjsip(sip_port, uas.getsockname()[1])},
            sip_port=sip_port,
            extra_vars={"turn_include": str(include)},
        )
        ami = AmiConfig(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret, timeout=10.0)
        yield Rig(sb, server, uas, settings, ami)


def test_asterisk_keeps_a_turn_relay_through_rotations_and_coturn_refuses_the_expired(
    sandbox_factory: object, tmp_path: Path
) -> None:
    with _rig(sandbox_factory, tmp_path, TTL) as rig:
        asyncio.run(_rotations(rig, TurnRotator(rig.settings, rig.ami)))


async def _rotations(rig: Rig, rotator: TurnRotator) -> None:
    sb, server, uas, seen = rig.sb, rig.server, rig.uas, set[str]()
    # Issued and applied just before the first call: Asterisk's start-up takes no part of
    # the lifetime.
    first = (await rotator.rotate_once()).credential
    assert _relay(await _offer(sb, uas, seen)), "no relay candidate with a fresh credential"
    assert _allocated(server, first.username), server.log[-3000:]

    # Without rotation: once it has expired, coturn refuses it and the offer has no relay
    # candidate.
    await asyncio.sleep(max(0.0, first.expires + 1 - time.time()))
    assert not _relay(await _offer(sb, uas, seen)), "a relay with an expired credential"
    assert _logged(server, first.username, "error 401"), server.log[-3000:]

    # The daemon's loop: renews the expired one, reloads res_rtp_asterisk ...
    task = asyncio.create_task(rotator.run())
    try:
        second = await _until_applied(rotator, first)
        assert _relay(await _offer(sb, uas, seen)), "no relay after the rotation"
        assert _allocated(server, second.username), server.log[-3000:]
        # ... and renews the next one before it expires, at half its lifetime.
        third = await _until_applied(rotator, second)
        assert third.expires - TTL < second.expires, (second, third)
        assert _relay(await _offer(sb, uas, seen)), "no relay after the second rotation"
        assert _allocated(server, third.username), server.log[-3000:]
    finally:
        task.cancel()
    assert rotator.failures == 0


def _callctl(*argv: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a callctl command that prints JSON; its document."""
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _applied_by(daemon: DaemonProcess) -> str | None:
    turn: Any = (daemon.health() or {}).get("turn") or {}
    username: str | None = turn.get("username")
    return username


def test_turn_rotate_before_start_callctl_run_and_a_forced_rotation(
    sandbox_factory: object, tmp_path: Path
) -> None:
    """What an operator runs, with an hour's lifetime: `callctl turn rotate --no-reload`
    before Asterisk starts (rtp.conf's #tryinclude reads it at load); `callctl run
    --turn-config` with another REST user issues and applies its own; `callctl turn rotate
    --force` replaces that one. Each time the next call has a relay with that username."""
    config = tmp_path / "turn.yaml"

    def configure(settings: TurnSettings, user: str) -> None:
        config.write_text(
            f"version: 1\nserver: {settings.server}\nsecret_file: {settings.secret_file}\n"
            f"include: {settings.include}\nttl: 3600\nuser: {user}\n"
        )

    def first_write(settings: TurnSettings) -> None:
        configure(settings, USER)
        doc = _callctl("turn", "rotate", "--config", str(config), "--no-reload", "--json")
        assert doc["issued"] and not doc["reloaded"], doc

    with _rig(sandbox_factory, tmp_path, 3600, first_write) as rig:
        seen: set[str] = set()

        def relayed_with(username: str) -> bool:
            return _relay(asyncio.run(_offer(rig.sb, rig.uas, seen))) and _allocated(
                rig.server, username
            )

        at_load = TurnRotator(rig.settings, None).current()
        assert at_load is not None and relayed_with(at_load.username), rig.server.log[-3000:]

        configure(rig.settings, "gw1")
        routing = paths.REPO_ROOT / "specs" / "routing.example.yaml"
        extra = ["--turn-config", str(config)]
        with DaemonProcess(rig.sb.name, tmp_path / "daemon", routing, extra) as daemon:
            deadline = time.monotonic() + WAIT
            while not _applied_by(daemon):  # /health names what Asterisk was reloaded with
                assert daemon.running(), daemon.log_tail()
                assert time.monotonic() < deadline, daemon.log_tail()
                time.sleep(0.1)
            by_daemon = TurnRotator(rig.settings, None).current()
            assert by_daemon is not None and by_daemon.username.endswith(":gw1"), by_daemon
            assert _applied_by(daemon) == by_daemon.username
            assert "event=turn.reloaded" in daemon.log_tail(200)
            assert relayed_with(by_daemon.username), daemon.log_tail()

        configure(rig.settings, "gw2")  # a distinct username even within the daemon's second
        ami = {
            "CALLCTL_AMI_HOST": rig.sb.ami_host,
            "CALLCTL_AMI_PORT": str(rig.sb.ami_port),
            "CALLCTL_AMI_USER": rig.sb.ami_user,
            "CALLCTL_AMI_SECRET": rig.sb.ami_secret,
        }
        argv = ("turn", "rotate", "--config", str(config), "--force", "--json")
        doc = _callctl(*argv, env=ami)
        assert doc["issued"] and doc["reason"] == "forced" and doc["reloaded"], doc
        assert relayed_with(doc["username"]), rig.server.log[-3000:]
