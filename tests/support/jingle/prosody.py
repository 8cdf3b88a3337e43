"""A throw-away prosody 0.12 on loopback for the Jingle rig.

The server itself (config, accounts, start, stop) is the package's `callctl.sandbox.prosody`,
which `callctl sandbox up --jingle` also uses; this module adds what only a test run needs:
a temporary folder, the rig's domain, and the clean-up of prosodies left by dead test runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callctl.sandbox import prosody as _pkg
from callctl.sandbox.netns import pid_alive
from callctl.sandbox.prosody import ProsodyError, free_port

__all__ = ["DOMAIN", "Account", "Prosody", "ProsodyError", "free_port", "remove_stale"]

DOMAIN = "jingle.test"
_ROOT_PREFIX = "cjr-prosody-"
_OWNER_FILE = "owner.pid"  # the test process that started this prosody


@dataclass(frozen=True)
class Account(_pkg.Account):
    domain: str = DOMAIN


def render_config(root: Path, port: int, domain: str = DOMAIN, http_port: int = 0) -> str:
    return _pkg.render_config(root, port, domain, http_port)


@dataclass
class Prosody(_pkg.ProsodyServer):
    """One prosody process. Use `start()`/`stop()` or the fixture in fixtures.py."""

    domain: str = DOMAIN

    @classmethod
    def prepare(cls, root: Path | None = None, domain: str = DOMAIN) -> Prosody:
        remove_stale()
        root = root or Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
        server = cls(root=root, port=free_port(), domain=domain, http_port=free_port())
        server.write_config()
        (root / _OWNER_FILE).write_text(str(os.getpid()))
        return server

    def register(self, user: str, password: str) -> Account:
        _pkg.ProsodyServer.register(self, user, password)
        account = Account(user, password, self.domain)
        self.accounts[user] = account
        return account

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def remove_stale(tmp: Path | None = None) -> list[Path]:
    """Stop prosodies left by test runs that died (owner pid gone) and delete their folders.

    Only a process whose pid is in that folder's prosody.pid AND whose command line names that
    folder's config is signalled, so nothing else is ever killed.
    """
    removed = []
    for root in Path(tmp or tempfile.gettempdir()).glob(f"{_ROOT_PREFIX}*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue
        try:
            pid = int((root / "prosody.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            pid, cmdline = 0, b""
        if pid and str(root / "prosody.cfg.lua").encode() in cmdline:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed
