"""A real WebRTC client: headless Chromium or Firefox ESR running the StanzaJS page.

`BrowserClient.start()` runs `ip netns exec NS node driver.mjs` (so the browser, its page
server and its media all live in that namespace; no namespace: this one), waits for the page,
and logs the page in over WebSocket (through a relay on the veth when the server listens on
loopback: relay.py). Every page function is reached with `await client.rpc("name", *args)`
(driver.mjs's JSON-line protocol). The probe's chromium client and the test rigs
(tests/support/webrtc) both drive the page through this class.

A browser that cannot start is an error (BrowserError), never a skip: CI installs the browsers
and the npm packages (scripts/install-deps.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callctl.probe.browser import ASSETS, DRIVER
from callctl.probe.browser.modules import BROWSERS, INSTALL_HINT, missing, modules_dir

START_TIMEOUT = 90.0  # bundle + browser start + page load, on a loaded 2-core machine
RPC_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_PROFILE_PREFIX = "cwr-profile-"


class BrowserError(RuntimeError):
    """The browser, its driver or a page call failed; the message carries the console tail."""


def check_installed(kind: str, modules: Path | None = None) -> None:
    """Raise BrowserError naming what is missing and what to run."""
    if kind not in BROWSERS:
        raise BrowserError(f"unknown browser {kind!r} (known: {sorted(BROWSERS)})")
    gone = missing(kind, modules or modules_dir())
    if gone:
        raise BrowserError(f"missing {gone}: {INSTALL_HINT}")


@dataclass
class BrowserClient:
    """One browser with the rig page, logged in as `full_jid`."""

    kind: str  # "chromium" or "firefox"
    netns: str  # the namespace the browser runs in ("": this one)
    full_jid: str
    password: str
    ws_url: str  # ws://HOST_ADDR:PORT/xmpp-websocket (the relay)
    renomination: bool = False  # munge a=ice-options:renomination into both descriptions
    timing: bool = False  # Chromium: mark the first decrypted audio frame (bench)
    ice_servers: list[dict[str, str]] = field(default_factory=list)  # RTCIceServer (TURN)
    modules: Path | None = None  # the installed node_modules (default: modules_dir())
    version: str = ""
    console: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | None = None
    _profile: Path | None = None
    _pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _ready: asyncio.Future[dict[str, Any]] | None = None
    _reader: asyncio.Task[None] | None = None
    _next_id: int = 0

    async def start(self) -> None:
        modules = self.modules or modules_dir()
        check_installed(self.kind, modules)
        self._profile = Path(tempfile.mkdtemp(prefix=_PROFILE_PREFIX))  # fresh per run
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        # Own session: close() can signal the driver's whole group (node + browser).
        enter = ("ip", "netns", "exec", self.netns) if self.netns else ()
        self.proc = await asyncio.create_subprocess_exec(
            *enter,
            *("node", str(DRIVER), "--modules", str(modules)),
            *("--browser", self.kind, "--profile", str(self._profile)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=ASSETS,
            start_new_session=True,
            limit=1 << 22,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT)
        except TimeoutError:
            await self.close()
            raise BrowserError(
                f"{self.kind} not ready within {START_TIMEOUT} s: {self.tail()}"
            ) from None
        except BrowserError:
            await self.close()
            raise
        self.version = str(ready.get("browser", ""))
        await self.rpc(
            "login",
            {
                "jid": self.full_jid,
                "password": self.password,
                "url": self.ws_url,
                "renomination": self.renomination,
                "timing": self.timing,
                "iceServers": self.ice_servers,
            },
        )

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.console[-lines:]) or "(no output)"

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            try:
                msg = json.loads(text)
            except ValueError:
                self.console.append(text)  # node or browser noise on stderr
                continue
            if "console" in msg:
                self.console.append(str(msg["console"]))
            elif "ready" in msg and self._ready is not None and not self._ready.done():
                self._ready.set_result(dict(msg["ready"]))
            elif "fatal" in msg:
                self.console.append(f"driver fatal: {msg['fatal']}")
            elif "id" in msg and (fut := self._pending.pop(int(msg["id"]), None)) is not None:
                if fut.done():
                    continue
                if msg.get("ok"):
                    fut.set_result(msg.get("value"))
                else:
                    fut.set_exception(BrowserError(f"page: {msg.get('error')}"))
        gone = BrowserError(f"{self.kind} driver exited: {self.tail()}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(gone)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(gone)
        self._pending.clear()

    async def rpc(self, fn: str, *args: Any, timeout: float = RPC_TIMEOUT) -> Any:
        """Call window.rig[fn](*args) in the page; its result, or BrowserError."""
        if self.proc is None or self.proc.stdin is None or self.proc.returncode is not None:
            raise BrowserError(f"{self.kind} is not running: {self.tail()}")
        self._next_id += 1
        ident = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        self.proc.stdin.write(
            (json.dumps({"id": ident, "fn": fn, "args": list(args)}) + "\n").encode()
        )
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(ident, None)
            raise BrowserError(f"page call {fn} timed out after {timeout} s") from None

    async def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(ConnectionError, OSError):
                    proc.stdin.close()  # EOF: the driver closes the browser and exits
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5.0)
        if self._profile is not None:
            _kill_holders(self._profile)
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None


def _kill_holders(profile: Path) -> None:
    """SIGKILL what is left of this browser: puppeteer starts the browser in a process group
    of its own, so a driver killed before it closed the browser leaves it running. Only
    processes whose command line names this run's fresh profile folder are ours."""
    needle = str(profile).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
