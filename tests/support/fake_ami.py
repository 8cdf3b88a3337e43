"""A simulated Asterisk CLI and AMI server for the debug/AMI unit tests (no tests here).

The CLI answers are the exact strings Asterisk 22.10.1 prints (see callctl/debug/_parse.py
for the sources). The server speaks AMI over TCP on 127.0.0.1 so the real panoramisk wire layer
is exercised; failures (rejection, dropped connection) can be injected per command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Self

from callctl.asterisk.ami import AmiConfig
from callctl.debug._model import CATEGORIES, Prior

BANNER = "Asterisk Call Manager/9.0.0\r\n"
LOG_DIR = "/tmp/fake-ast/log"


def prior_fields(**over: object) -> dict[str, object]:
    """The prior `debug on` records from a FakeAsterisk at its defaults (core debug off,
    pjproject at its default level 2, the pjsip logger off as configured, no channel of its
    own), as the state file holds it; `over` changes fields."""
    fields: dict[str, object] = {
        "core_debug": 0,
        "pjproject_level": 2,
        "pjproject_default": True,
        "pjsip_logger": "off",
        "pjsip_logger_source": "config",
        "channels": [],
        "log_dir": LOG_DIR,
    }
    return fields | over


def quiet_prior(**over: object) -> Prior:
    """`prior_fields` as the model's `Prior`."""
    return Prior(**prior_fields(**over))  # type: ignore[arg-type]


def logger_show_channels(rows: Iterable[tuple[str, str, str]]) -> list[str]:
    """`logger show channels` as main/logger.c prints it, a (name, type, levels) a row; the
    name is cut at 35 characters, as Asterisk does."""
    fmt = "{:<35.35} {:<8.8} {:<10.10} {:<9.9} "
    return [
        "Logger queue limit: 1000",
        "",
        fmt.format("Channel", "Type", "Formatter", "Status") + "Configuration",
        fmt.format("-------", "----", "---------", "------") + "-------------",
        *(
            fmt.format(name, typ, "default", "Enabled") + " - " + levels
            for name, typ, levels in rows
        ),
        "",
    ]


@dataclass
class FakeAsterisk:
    core_debug: int = 0
    pj_level: int = 2
    pj_default_level: int = 2
    pjsip_logger: bool = False
    pjsip_hosts: list[str] = field(default_factory=list)
    pjsip_debug_setting: str = "no"
    log_dir: str = LOG_DIR
    channels: list[tuple[str, str, bool]] = field(
        default_factory=lambda: [("", "Console", False), (f"{LOG_DIR}/messages", "File", False)]
    )
    history: list[str] = field(default_factory=list)
    # debug category -> sublevel (-1: enabled at every sublevel); absent: disabled
    categories: dict[str, int] = field(default_factory=dict)
    # the categories Asterisk 22 registers, which are the ones the package offers
    known_categories: tuple[str, ...] = CATEGORIES

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.core_debug,
            self.pj_level,
            self.pjsip_logger,
            tuple(self.pjsip_hosts),
            tuple(self.channels),
            tuple(sorted(self.categories.items())),
        )

    @contextmanager
    def left_as_found(self) -> Iterator[None]:
        """Asserts that the block leaves every setting as it found it (the history aside)."""
        before = self.snapshot()
        yield
        assert self.snapshot() == before

    def run(self, cmd: str) -> tuple[bool, list[str]]:
        self.history.append(cmd)
        w = cmd.split()
        if cmd == "core show settings":
            return True, [
                "",
                "PBX Core settings",
                "-----------------",
                "  Version:                     22.10.1",
                "  Root console verbosity:      3",
                f"  Debug level:                 {self.core_debug}",
                "  Trace level:                 0",
                "",
                "* Directories",
                "  -------------",
                f"  Log directory:               {self.log_dir}",
                "",
            ]
        if cmd == "pjproject show log level":
            d = " (default)" if self.pj_level == self.pj_default_level else ""
            return True, [f"pjproject log level is {self.pj_level}.{d}"]
        if cmd == "logger show channels":
            dynamic = "DEBUG TRACE NOTICE WARNING ERROR VERBOSE "
            return True, logger_show_channels(
                (name, typ, dynamic if dyn else "NOTICE WARNING ")
                for name, typ, dyn in self.channels
            )
        if cmd == "pjsip show settings":
            return True, [
                "",
                " ParameterName                     : ParameterValue",
                " ==================================================",
                " contact_expiration_check_interval : 30",
                f" debug                             : {self.pjsip_debug_setting}",
                " default_outbound_endpoint         : default_outbound_endpoint",
            ]
        if w[:3] == ["logger", "add", "channel"] and len(w) == 5:
            path = f"{self.log_dir}/{w[3]}" if not w[3].startswith("/") else w[3]
            if any(n == path for n, _, _ in self.channels):
                return True, [f"Logger channel '{w[3]}' already exists"]
            self.channels.insert(0, (path, "File", True))
            return True, []
        if w[:3] == ["logger", "remove", "channel"] and len(w) == 4:
            path = f"{self.log_dir}/{w[3]}" if not w[3].startswith("/") else w[3]
            for i, (n, _, dyn) in enumerate(self.channels):
                if n == path and dyn:
                    del self.channels[i]
                    return True, [f"Removed dynamic logger channel '{w[3]}'"]
            return True, [f"Unable to find dynamic logger channel '{w[3]}'"]
        if w[:4] == ["core", "set", "debug", "category"] and len(w) > 4:
            # main/cli.c + main/logger_category.c: silent; unknown names ignored.
            off = w[4] == "off"
            for entry in w[5:] if off else w[4:]:
                name, _, sub = entry.partition(":")
                if name.lower() not in self.known_categories:
                    continue
                level = 0 if off else (int(sub) if sub else -1)
                if level:
                    self.categories[name.lower()] = level
                else:
                    self.categories.pop(name.lower(), None)
            return True, []
        if w[:3] == ["core", "set", "debug"] and len(w) == 4:
            new = 0 if w[3] == "off" else int(w[3])
            old = self.core_debug
            self.core_debug = new

            def s(v: int) -> str:
                return str(v) if v else "OFF"

            if old == new:
                return True, [f"Core debug is still {s(old)}."]
            return True, [f"Core debug was {s(old)} and is now {s(new)}."]
        if w[:4] == ["pjproject", "set", "log", "level"] and len(w) == 5:
            new = self.pj_default_level if w[4] == "default" else int(w[4])
            old = self.pj_level
            self.pj_level = new
            if old == new:
                return True, [f"pjproject log level is still {old}."]
            return True, [f"pjproject log level was {old} and is now {new}."]
        if w[:3] == ["pjsip", "set", "logger"]:
            if w[3:] == ["on"]:
                self.pjsip_logger = True
                return True, ["PJSIP Logging enabled"]
            if w[3:] == ["off"]:
                self.pjsip_logger = False
                self.pjsip_hosts = []
                return True, ["PJSIP Logging disabled"]
            if len(w) == 5 and w[3] in ("host", "add"):
                if w[3] == "host":
                    self.pjsip_hosts = []
                self.pjsip_hosts.append(w[4])
                self.pjsip_logger = True
                return True, [f"PJSIP Logging Enabled for host: {w[4]}"]
        return False, [
            f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
        ]


class LoopbackServer:
    """A TCP server on 127.0.0.1, on a port the system picks; a subclass answers each
    connection in `_client`."""

    server: asyncio.Server | None = None
    port = 0

    async def start(self) -> Self:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class FakeAmiServer(LoopbackServer):
    """AMI over TCP in front of a FakeAsterisk. `fail` maps a command to 'reject' or 'drop'."""

    def __init__(self, ast: FakeAsterisk, user: str = "callctl", secret: str = "s3cret") -> None:
        self.ast = ast
        self.user = user
        self.secret = secret
        self.fail: dict[str, str] = {}
        self.drop_after_run: set[str] = set()
        self.answer_instead: dict[str, list[str]] = {}  # run the command, answer this text
        self.delay_after_run: dict[str, float] = {}  # run the command, answer late
        self.lie: dict[str, list[str]] = {}  # do NOT run the command, answer this text
        self.on_run: dict[str, Callable[[], None]] = {}  # call this when the command runs
        self.received: list[str] = []
        self.logins = 0

    def config(self, secret: str | None = None) -> AmiConfig:
        """How the package logs in here (another `secret` to be refused); a short timeout."""
        secret = self.secret if secret is None else secret
        return AmiConfig("127.0.0.1", self.port, self.user, secret, timeout=2.0)

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(BANNER.encode())
        authed = False
        try:
            while True:
                raw = await r.readuntil(b"\r\n\r\n")
                headers: dict[str, str] = {}
                for line in raw.decode().split("\r\n"):
                    if ": " in line:
                        k, v = line.split(": ", 1)
                        headers[k.lower()] = v
                action = headers.get("action", "").lower()
                aid = headers.get("actionid", "")
                if action == "login":
                    self.logins += 1
                    user, secret = headers.get("username"), headers.get("secret")
                    if user == self.user and secret == self.secret:
                        authed = True
                        w.write(
                            f"Response: Success\r\nActionID: {aid}\r\n"
                            "Message: Authentication accepted\r\n\r\n".encode()
                        )
                    else:
                        w.write(
                            f"Response: Error\r\nActionID: {aid}\r\n"
                            "Message: Authentication failed\r\n\r\n".encode()
                        )
                        await w.drain()
                        break
                elif action == "logoff":
                    w.write(
                        f"Response: Goodbye\r\nActionID: {aid}\r\n"
                        "Message: Thanks for all the fish.\r\n\r\n".encode()
                    )
                    await w.drain()
                    break
                elif action == "command" and authed:
                    cmd = headers.get("command", "")
                    self.received.append(cmd)
                    mode = self.fail.pop(cmd, None)
                    if mode == "drop":
                        break
                    if mode == "reject":
                        ok, out = False, ["Permission denied (injected)"]
                    elif cmd in self.lie:
                        ok, out = True, self.lie.pop(cmd)
                    else:
                        ok, out = self.ast.run(cmd)
                        if cmd in self.on_run:
                            self.on_run.pop(cmd)()
                    if cmd in self.drop_after_run:
                        self.drop_after_run.discard(cmd)
                        break
                    if cmd in self.answer_instead:
                        out = self.answer_instead.pop(cmd)
                    if cmd in self.delay_after_run:
                        await asyncio.sleep(self.delay_after_run.pop(cmd))
                    body = f"Response: {'Success' if ok else 'Error'}\r\nActionID: {aid}\r\n"
                    body += "Message: Command output follows\r\n"
                    body += "".join(f"Output: {line}\r\n" for line in (out or [""]))
                    w.write((body + "\r\n").encode())
                else:
                    w.write(
                        f"Response: Error\r\nActionID: {aid}\r\n"
                        "Message: Permission denied\r\n\r\n".encode()
                    )
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()
