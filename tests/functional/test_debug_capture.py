"""`callctl debug on --capture` on a real sandbox Asterisk (issue 17 item 1): tcpdump rings
beside the log file, STUN/DTLS kept whole and RTP cut after its header, and a capture that
ends at the expiry by itself - the test SIGKILLs the CLI that started it and the running
daemon (`callctl run`, whose expiry watcher would otherwise stop it) mid-capture."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from callctl.debug import capture as C
from support.daemon_proc import DaemonProcess
from support.daemon_rig import ROUTING, make_rig

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

if os.geteuid() != 0:
    pytestmark.append(pytest.mark.skip(reason="tcpdump needs root (CAP_NET_RAW) to capture"))

FOR_S = 20


def pcap_records(path: Path) -> list[tuple[int, int, bytes]]:
    """(captured length, original length, data) of each record of a classic pcap file."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    out, pos = [], 24
    while pos + 16 <= len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[pos : pos + 16])
        out.append((incl, orig, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return out


def udp_payloads(records: list[tuple[int, int, bytes]], port: int) -> list[tuple[int, int, bytes]]:
    """Records of IPv4 UDP to `port` on loopback (Ethernet framing): (incl, orig, payload)."""
    out = []
    for incl, orig, d in records:
        if len(d) >= 14 + 20 + 8 and d[12:14] == b"\x08\x00" and d[23] == 17:
            ihl = (d[14] & 0x0F) * 4
            dport = struct.unpack("!H", d[14 + ihl + 2 : 14 + ihl + 4])[0]
            if dport == port:
                out.append((incl, orig, d[14 + ihl + 8 :]))
    return out


def listening(spec: C.CaptureSpec, kind: str) -> bool:
    try:
        return "listening on" in Path(spec.errlog(kind)).read_text(errors="replace")
    except OSError:
        return False


@pytest.fixture
def rig(sandbox_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_rig(sandbox_factory, tmp_path)  # sync: the sandbox starts outside the loop


async def test_capture_ends_at_expiry_with_cli_and_daemon_killed(rig, tmp_path):  # type: ignore[no-untyped-def]
    sb = rig.sb
    state_dir = tmp_path / "st"
    secret = tmp_path / "ami.secret"
    secret.touch(mode=0o600)
    secret.write_text(sb.ami_secret)
    env = {**os.environ, "CALLCTL_STATE_DIR": str(state_dir), "PYTHONWARNINGS": "ignore"}
    ami = ["--ami-host", sb.ami_host, "--ami-port", str(sb.ami_port), "--ami-user", sb.ami_user]
    ami += ["--ami-secret-file", str(secret)]
    before = sb.rx("core show settings").count("Debug level:                 0")

    spec: C.CaptureSpec | None = None
    config = rig.workdir / "routing.yaml"
    config.write_text(ROUTING.replace("RING", "10"))
    standin = ["--standin", "alice@example.org/a=ph-a"]
    daemon = DaemonProcess(rig.sb.name, rig.workdir, config, standin, env=env, debug_watch=True)
    try:
        await asyncio.to_thread(daemon.start().wait_ready, 30)
        on = ["debug", "on", "--capture", "--name", "cct-cap", "--for", f"{FOR_S}s"]
        cli_out = tmp_path / "cli.out"
        with cli_out.open("wb") as out:
            cli = subprocess.Popen(
                [sys.executable, "-m", "callctl", *on, *ami],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        t_on = datetime.now(UTC)
        # As soon as both tcpdumps listen, kill the CLI (if it has not finished) and the daemon.
        # A running process is not yet a capturing one: tcpdump says "listening on" once its
        # filter is attached, and packets sent before that are not in the file.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = state_dir / "debug" / f"{sb.ami_host}_{sb.ami_port}.json"
            if state.is_file() and '"capture": {' in state.read_text():
                spec = C.CaptureSpec.from_json(json.loads(state.read_text())["capture"])
                if all(C.running(spec).values()) and all(listening(spec, k) for k in C.KINDS):
                    break
            assert cli.poll() in (None, 0), cli_out.read_text()
            await asyncio.sleep(0.02)
        assert spec is not None and all(C.running(spec).values()), "capture never started"
        assert all(listening(spec, k) for k in C.KINDS), "tcpdump never said it listens"
        cli.kill()
        cli.wait()
        daemon.kill()
        assert all(C.running(spec).values())  # both killers are gone; the capture is not

        # Traffic on the RTP range: a STUN Binding request, a DTLS-like record, RTP with audio.
        port = spec.port_lo + 2
        stun = (
            struct.pack("!HHI12s", 0x0001, 8, 0x2112A442, b"0123456789ab") + b"\x80\x2a\x00\x04abcd"
        )
        dtls = b"\x16\xfe\xfd" + b"\x00" * 10 + b"\x00\x40" + bytes(64)
        rtp = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + bytes(range(160))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for payload in (stun, dtls, rtp, rtp):
                s.sendto(payload, ("127.0.0.1", port))
                await asyncio.sleep(0.05)

        # Nobody is left to stop it: it must end by itself at the expiry, not before.
        expires = t_on.timestamp() + FOR_S
        while any(C.running(spec).values()):
            assert time.time() < expires + 60, "capture still runs a minute after expiry"
            await asyncio.sleep(0.2)
        ended = time.time()
        assert ended >= expires - 1.0, (ended, expires)

        sig = udp_payloads(pcap_records(Path(spec.ring("signal") + "0")), port)
        media = udp_payloads(pcap_records(Path(spec.ring("media") + "0")), port)
        assert [(i, o) for i, o, _ in sig] == [
            (14 + 20 + 8 + len(stun),) * 2,
            (14 + 20 + 8 + len(dtls),) * 2,
        ]
        assert [p for _, _, p in sig] == [stun, dtls]  # kept whole
        assert [(i, o) for i, o, _ in media] == [(54, 14 + 20 + 8 + len(rtp))] * 2
        assert all(p == rtp[:12] for _, _, p in media)  # the RTP header only: no audio
        assert Path(spec.ring("signal")).parent == sb.log_dir.resolve() or Path(
            spec.ring("signal")
        ).parent == Path(sb.log_dir)

        # `off` afterwards restores Asterisk; the capture is already over.
        off = subprocess.run(
            [sys.executable, "-m", "callctl", "debug", "off", *ami],
            capture_output=True,
            text=True,
            env=env,
        )
        assert off.returncode == 0, off.stdout + off.stderr
        assert "prior state restored" in off.stdout
        assert f"capture file kept: {spec.ring('signal')}0" in off.stdout
        assert sb.rx("core show settings").count("Debug level:                 0") == before
    finally:
        daemon.kill()
        if spec is not None:
            await C.stop(spec)


@pytest.fixture
def sandbox(sandbox_factory, asterisk_build_stock):  # type: ignore[no-untyped-def]
    return sandbox_factory(build=asterisk_build_stock)


async def test_extend_restarts_the_capture_bounded_by_the_new_expiry_and_off_stops_it(
    sandbox, tmp_path
):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from callctl.asterisk.ami import AmiConfig
    from callctl.debug.service import DebugService

    sb = sandbox
    cfg = AmiConfig(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret, timeout=5.0)
    t = [datetime(2026, 12, 7, 2, 0, tzinfo=UTC)]
    svc = DebugService(cfg, state_dir=tmp_path / "st", clock=lambda: t[0])
    first = await svc.on(
        name="cct-ext", duration=timedelta(minutes=5), capture=C.CaptureRequest(mb=5)
    )
    old = first.state.capture
    assert old is not None and old.seconds == 300
    rtp_conf = (sb.root / "etc" / "rtp.conf").read_text()  # the sandbox's rendered rtp.conf
    assert f"rtpstart = {old.port_lo}\n" in rtp_conf and f"rtpend = {old.port_hi}\n" in rtp_conf
    assert all(C.running(old).values())
    t[0] += timedelta(minutes=1)
    second = await svc.on(name="cct-ext", duration=timedelta(minutes=10))
    new = second.state.capture
    assert second.action == "extended" and new is not None
    assert new.seconds == 600 and new.tag != old.tag
    assert not any(C.running(old).values()) and all(C.running(new).values())
    st = svc.status()
    assert st["capture"]["running"] and st["capture"]["tag"] == new.tag
    off = await svc.off()
    assert off.action == "stopped" and not off.warnings
    assert not any(C.running(new).values())
    assert Path(new.ring("signal") + "0").is_file() and Path(old.ring("media") + "0").is_file()


async def test_a_capture_that_cannot_start_rolls_everything_back(sandbox, tmp_path):  # type: ignore[no-untyped-def]
    from callctl.asterisk.ami import AmiConfig
    from callctl.debug.service import DebugService
    from callctl.errors import AsteriskUnavailable

    sb = sandbox
    before = (sb.rx("core show settings"), sb.rx("logger show channels"))
    cfg = AmiConfig(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret, timeout=5.0)
    svc = DebugService(cfg, state_dir=tmp_path / "st")
    with pytest.raises(AsteriskUnavailable, match="rolled back: channel, core_debug") as info:
        await svc.on(name="cct-nocap", capture=C.CaptureRequest(iface="nosuch0"))
    assert "did not start: tcpdump: nosuch0: No such device exists" in info.value.message
    settings, channels = sb.rx("core show settings"), sb.rx("logger show channels")
    assert "Debug level:                 0" in settings and "cct-nocap" not in channels
    assert (settings, channels) == before
    assert not svc.status()["on"]


async def test_status_shows_the_capture(sandbox, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import io

    from callctl.cli import Console, main

    sb = sandbox
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text(sb.ami_secret)
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path / "st"))
    ami = ["--ami-host", sb.ami_host, "--ami-port", str(sb.ami_port), "--ami-user", sb.ami_user]
    ami += ["--ami-secret-file", str(secret)]

    def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        rc = main([*argv, *ami], Console(stdout=out, stderr=out))
        return rc, out.getvalue()

    rc, text = await asyncio.to_thread(cli, "debug", "on", "--capture", "--name", "cct-st")
    assert rc == 0, text
    assert "capture: lo udp " in text and "(ends at the expiry by itself)" in text
    rc, text = await asyncio.to_thread(cli, "debug", "status")
    assert rc == 0 and "  capture:  running, lo udp " in text and " 2 files " in text, text
    rc, text = await asyncio.to_thread(cli, "debug", "off")
    assert rc == 0 and "prior state restored" in text, text
    assert text.count("capture file kept: ") == 2
