"""A sandbox's state file: what was started, where, and how to reach it.

Written atomically with mode 0600 (it holds the AMI secret and the ARI password). Other
commands (`callctl debug`, `callctl run`) read the connection details from here by default.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from callctl import paths
from callctl.errors import StateError
from callctl.names import check_name

STATE_FILE = "state.json"


@dataclass
class SandboxState:
    name: str
    root: str
    pid: int
    build_key: str
    prefix: str
    asterisk_version: str
    bind_address: str
    http_port: int
    ami_port: int
    sip_port: int
    ari_user: str
    ari_password: str
    ami_user: str
    ami_secret: str
    started_at: str
    patches: dict[str, list[str]]

    @property
    def ari_url(self) -> str:
        return f"http://{self.bind_address}:{self.http_port}/ari"

    def public(self) -> dict[str, Any]:
        """Everything but the secrets, for status output."""
        d = asdict(self)
        d.pop("ari_password")
        d.pop("ami_secret")
        d["ari_url"] = self.ari_url
        return d


def sandbox_root(name: str) -> Path:
    # Checked here, where every command turns a name into the folder `up` and the test
    # fixtures clear: "/" or "../../.." would make that a system directory.
    return paths.state_dir() / "sb" / check_name(name, "sandbox name")


def write_state(state: SandboxState) -> None:
    path = Path(state.root) / STATE_FILE
    tmp = path.with_name(f".{STATE_FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(state), f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state(name: str) -> SandboxState | None:
    path = sandbox_root(name) / STATE_FILE
    if not path.is_file():
        return None
    try:
        return SandboxState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise StateError(
            f"sandbox state {path} is unreadable: {exc}",
            hint=f"remove {path.parent} if no Asterisk runs from it",
        ) from None


def remove_state(name: str) -> None:
    (sandbox_root(name) / STATE_FILE).unlink(missing_ok=True)


@dataclass(frozen=True)
class Connection:
    """How to reach an Asterisk's AMI and ARI."""

    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    ari_url: str
    ari_user: str
    ari_password: str
    log_dir: str | None = None


def load_connection(name: str = "default") -> Connection:
    """Connection details of a running sandbox (the default target of callctl commands)."""
    state = read_state(name)
    if state is None:
        raise StateError(
            f"no sandbox named {name!r} is running",
            hint="start it with `callctl sandbox up`, or pass connection options",
        )
    return Connection(
        state.bind_address,
        state.ami_port,
        state.ami_user,
        state.ami_secret,
        state.ari_url,
        state.ari_user,
        state.ari_password,
        str(Path(state.root) / "log"),
    )
