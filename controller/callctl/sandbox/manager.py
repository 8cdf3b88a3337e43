"""A local sandbox Asterisk: configs from templates, start, wait until ready, stop.

Each sandbox lives in its own short folder (STATE/sb/NAME: the control socket is an AF_UNIX
path). `down` stops only the process this sandbox started: the pid in its state file, checked
against /proc to still be that Asterisk with that config.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callctl import paths
from callctl.build import fileutil
from callctl.build.builder import BuildResult
from callctl.build.fileutil import rmtree
from callctl.errors import AsteriskUnavailable, StateError, UsageError
from callctl.sandbox import jingle, render
from callctl.sandbox.jingle import JingleOptions
from callctl.sandbox.procs import runs_with
from callctl.sandbox.state import (
    SandboxState,
    make_private_root,
    read_state,
    remove_state,
    sandbox_root,
    write_state,
)

SECRET_FILES = {"ari.conf", "manager.conf", "xmpp.conf"}
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass
class SandboxOptions:
    name: str = "default"
    bind_address: str = "127.0.0.1"
    http_port: int = 0  # 0: a free port
    ami_port: int = 0
    sip_port: int = 0
    rtp_start: int = 0
    rtp_end: int = 0
    trunks: list[dict[str, Any]] = field(default_factory=list)  # name, host, port
    phones: list[dict[str, Any]] = field(default_factory=list)  # name, host, context
    stasis_app: str = "callctl"
    jingle: bool = False
    # The whole gateway (prosody, res_xmpp + chan_motif, the demo phone side): sandbox/jingle.py
    jingle_demo: JingleOptions | None = None
    configs: dict[str, str] = field(default_factory=dict)  # replace rendered files by name
    extra_vars: dict[str, Any] = field(default_factory=dict)
    dialplan_dir: Path = field(default_factory=lambda: paths.REPO_ROOT / "dialplan")
    dialplan_extra: dict[str, str] = field(default_factory=dict)  # more etc/dialplan/*.conf


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def check_free(host: str, port: int, kind: int) -> None:
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            raise UsageError(
                f"{proto} port {host}:{port} is already in use",
                hint="choose another with --http-port/--ami-port/--sip-port",
            ) from None


def _free_rtp_range(host: str, width: int = 200) -> tuple[int, int]:
    # Pick an even-aligned range from a free UDP port; collisions only cost a retry in Asterisk.
    base = free_port(host, socket.SOCK_DGRAM) & ~1
    base = min(base, 65535 - width)
    return base, base + width


class Sandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # Attributes the tests and other commands use.
    @property
    def name(self) -> str:
        return self.state.name

    @property
    def root(self) -> Path:
        return Path(self.state.root)

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "asterisk.conf"

    @property
    def pid(self) -> int:
        return self.state.pid

    @property
    def ari_url(self) -> str:
        return self.state.ari_url

    @property
    def ari_user(self) -> str:
        return self.state.ari_user

    @property
    def ari_password(self) -> str:
        return self.state.ari_password

    @property
    def ami_host(self) -> str:
        return self.state.bind_address

    @property
    def ami_port(self) -> int:
        return self.state.ami_port

    @property
    def ami_user(self) -> str:
        return self.state.ami_user

    @property
    def ami_secret(self) -> str:
        return self.state.ami_secret

    @property
    def http_port(self) -> int:
        return self.state.http_port

    @property
    def sip_port(self) -> int:
        return self.state.sip_port

    @property
    def asterisk_bin(self) -> Path:
        return Path(self.state.prefix) / "sbin" / "asterisk"

    def is_running(self) -> bool:
        return _alive(self.state.pid, self.conf)

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Run a CLI command through the control socket (`asterisk -rx`)."""
        proc = subprocess.run(
            [str(self.asterisk_bin), "-C", str(self.conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AsteriskUnavailable(
                f"asterisk -rx {command!r} failed: {(proc.stderr or proc.stdout).strip()}"
            )
        return proc.stdout

    def stop(self) -> None:
        stop_process(self.state, self.conf)
        if self.state.jingle:
            jingle.stop(self.state.jingle)
            _reap(int(self.state.jingle.get("prosody_pid") or 0))
        remove_state(self.name)

    def restart(self) -> None:
        """Stop and start the same Asterisk with the same configs and ports."""
        stop_process(self.state, self.conf)
        self.state.pid = _spawn(Path(self.state.prefix), self.conf, self.root)
        write_state(self.state)
        wait_ready(self, READY_TIMEOUT)


# Asterisk processes this Python process started: kept so they can be reaped (no zombies,
# no "still running" ResourceWarning) when stopped from here, as the tests do.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(prefix: Path, conf: Path, root: Path) -> int:
    console_log = (root / "log" / "console.log").open("ab")
    env = {**os.environ, "LD_LIBRARY_PATH": str(prefix / "lib")}
    proc = subprocess.Popen(
        [str(prefix / "sbin" / "asterisk"), "-f", "-n", "-C", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=console_log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env=env,
        start_new_session=True,  # outlives the CLI that started it
    )
    console_log.close()
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # never block for ever on a process we started
            child.kill()
            child.wait(STOP_TIMEOUT)


def wait_ready(sb: Sandbox, timeout: float) -> None:
    """Wait (with growing delays) until the process is fully booted and ARI and AMI answer."""
    from callctl.sandbox import readiness  # aiohttp: only when a sandbox starts

    deadline = time.monotonic() + timeout
    delay = 0.1
    last_error = "not started"
    while time.monotonic() < deadline:
        if not sb.is_running():
            tail = fileutil.tail(sb.root / "log" / "console.log", 15)
            raise AsteriskUnavailable(
                f"Asterisk exited during start-up:\n{tail}", hint=f"see {sb.log_dir}"
            )
        try:
            sb.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
            asyncio.run(readiness.ari_info(sb.ari_url, sb.ari_user, sb.ari_password))
            asyncio.run(readiness.ami_probe(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret))
            return
        except Exception as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise AsteriskUnavailable(
        f"sandbox {sb.name} not ready after {timeout:.0f} s ({last_error})",
        hint=f"see {sb.log_dir}",
    )


def _alive(pid: int, conf: Path) -> bool:
    """Whether the sandbox's Asterisk runs. For a child of this process its exit status says
    so: /proc's cmdline is empty for a moment after exec (the kernel sets the arguments up
    after closing the descriptors Popen waits on), and read then it would call a starting
    Asterisk gone (seen in CI: `up` gave up at once, then waited for it forever)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    return runs_with(pid, "asterisk", conf)


def stop_process(state: SandboxState, conf: Path) -> None:
    """Stop the sandbox's Asterisk: `core stop now`, then SIGTERM, then SIGKILL."""
    pid = state.pid
    if _alive(pid, conf):
        prefix = Path(state.prefix)
        # `now`, not `gracefully`: a sandbox is stopped on purpose, calls and all.
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                [str(prefix / "sbin" / "asterisk"), "-C", str(conf), "-rx", "core stop now"],
                capture_output=True,
                timeout=STOP_TIMEOUT / 2,
            )
        deadline = time.monotonic() + STOP_TIMEOUT
        sent_term = False
        # A zombie has an empty cmdline, so this ends as soon as the process has exited.
        while _alive(pid, conf):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            if not sent_term and time.monotonic() > deadline - STOP_TIMEOUT / 2:
                os.kill(pid, signal.SIGTERM)
                sent_term = True
            time.sleep(0.05)
    _reap(pid)


def up(build: BuildResult, opts: SandboxOptions) -> Sandbox:
    existing = read_state(opts.name)
    if existing is not None:
        sb = Sandbox(existing)
        if sb.is_running():
            raise StateError(
                f"sandbox {opts.name!r} is already running (pid {sb.pid})",
                hint="`callctl sandbox down` first, or use --name",
            )
        # Its Asterisk is gone (crashed, killed): what else it started (prosody, the
        # namespace) is cleaned up too, each checked as `down` checks it.
        sb.stop()
    for port, kind in (
        (opts.http_port, socket.SOCK_STREAM),
        (opts.ami_port, socket.SOCK_STREAM),
        (opts.sip_port, socket.SOCK_DGRAM),
    ):
        if port:
            check_free(opts.bind_address, port, kind)
    root = sandbox_root(opts.name)
    if len(str(root / "run" / "asterisk.ctl")) > 100:
        raise UsageError(
            f"sandbox path {root} is too long for Asterisk's control socket",
            hint="set CALLCTL_STATE to a short folder",
        )
    make_private_root(root)
    for sub in ("etc", "run", "spool", "lib", "cache", "prosody"):
        rmtree(root / sub)  # a fresh start each time; logs are kept
    for sub in ("etc", "run", "log", "spool", "lib", "cache", "etc/dialplan"):
        (root / sub).mkdir(parents=True, exist_ok=True)

    host = opts.bind_address
    rtp_start, rtp_end = (opts.rtp_start, opts.rtp_end) if opts.rtp_start else _free_rtp_range(host)
    prefix = build.prefix
    variables: dict[str, Any] = {
        "prefix": prefix,
        "etc_dir": root / "etc",
        "lib_dir": root / "lib",
        "data_dir": prefix / "var" / "lib" / "asterisk",
        "spool_dir": root / "spool",
        "run_dir": root / "run",
        "log_dir": root / "log",
        "cache_dir": root / "cache",
        "bind_address": host,
        "http_port": opts.http_port or free_port(host),
        "ami_port": opts.ami_port or free_port(host),
        "sip_port": opts.sip_port or free_port(host, socket.SOCK_DGRAM),
        "rtp_start": rtp_start,
        "rtp_end": rtp_end,
        "ari_user": "callctl",
        "ari_password": secrets.token_urlsafe(18),
        "ami_user": "callctl",
        "ami_secret": secrets.token_urlsafe(18),
        "trunks": opts.trunks,
        "phones": opts.phones,
        "stasis_app": opts.stasis_app,
        "jingle": opts.jingle,
        **opts.extra_vars,
    }
    setup = None
    if opts.jingle_demo is not None:
        patches = build.manifest["patches"]["asterisk"]
        dtls = any(p["name"].startswith("0090-") for p in patches)
        setup = jingle.prepare(root, opts.name, opts.jingle_demo, dtls=dtls)
        trunks, phones = jingle.demo_trunks(variables["sip_port"])
        variables.update(setup.asterisk_vars)
        variables.update(
            jingle=True, trunks=[*opts.trunks, *trunks], phones=[*opts.phones, *phones]
        )
        opts.dialplan_extra = {**opts.dialplan_extra, "demo.conf": jingle.dialplan()}
    try:
        return _start(build, opts, root, variables, setup)
    except BaseException:
        if setup is not None:
            setup.prosody.stop()
            jingle.stop(setup.state)
        raise


def _start(
    build: BuildResult,
    opts: SandboxOptions,
    root: Path,
    variables: dict[str, Any],
    setup: jingle.JingleSetup | None,
) -> Sandbox:
    prefix = build.prefix
    host = opts.bind_address
    files = render.render_all(variables)
    files.update(opts.configs)
    render.write_configs(root / "etc", files, SECRET_FILES)
    if opts.dialplan_dir.is_dir():
        for f in sorted(opts.dialplan_dir.glob("*.conf")):
            shutil.copy2(f, root / "etc" / "dialplan" / f.name)
    for fname, text in opts.dialplan_extra.items():
        (root / "etc" / "dialplan" / fname).write_text(text, encoding="utf-8")

    m = build.manifest
    state = SandboxState(
        name=opts.name,
        root=str(root),
        pid=0,
        build_key=build.key,
        prefix=str(prefix),
        asterisk_version=m["versions"]["asterisk"],
        bind_address=host,
        http_port=variables["http_port"],
        ami_port=variables["ami_port"],
        sip_port=variables["sip_port"],
        ari_user=variables["ari_user"],
        ari_password=variables["ari_password"],
        ami_user=variables["ami_user"],
        ami_secret=variables["ami_secret"],
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        patches={k: [p["name"] for p in m["patches"][k]] for k in ("asterisk", "pjproject")},
    )
    if setup is not None:
        # prosody first: res_xmpp logs in while Asterisk boots.
        jingle.start(setup)
        assert setup.prosody.proc is not None
        _CHILDREN[setup.prosody.proc.pid] = setup.prosody.proc
        state.jingle = setup.state
    state.pid = _spawn(prefix, root / "etc" / "asterisk.conf", root)
    write_state(state)
    sb = Sandbox(state)
    try:
        wait_ready(sb, READY_TIMEOUT)
    except BaseException:
        sb.stop()
        raise
    return sb


def get(name: str) -> Sandbox | None:
    state = read_state(name)
    return Sandbox(state) if state else None


def down(name: str) -> bool:
    """Stop a sandbox. Returns False when there was nothing to stop."""
    sb = get(name)
    if sb is None:
        return False
    was_running = sb.is_running() or (
        sb.state.jingle is not None and jingle.running(sb.state.jingle)
    )
    sb.stop()
    return was_running
