"""A sandbox's state file: what was started, where, and how to reach it.

Written atomically with mode 0600 (it holds the AMI secret and the ARI password). Other
commands (`callctl debug`, `callctl run`) read the connection details from here by default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from callctl import paths
from callctl.asterisk.endpoints import Endpoints
from callctl.errors import StateError
from callctl.fsutil import private_dir, write_atomic
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
    # `sandbox up --jingle`: prosody, the namespace, the demo accounts (sandbox/jingle.py).
    jingle: dict[str, Any] | None = None

    @property
    def ari_url(self) -> str:
        return f"http://{self.bind_address}:{self.http_port}/ari"

    def public(self) -> dict[str, Any]:
        """Everything but the secrets, for status output."""
        d = asdict(self)
        d.pop("ari_password")
        d.pop("ami_secret")
        jingle = d.pop("jingle")
        if jingle:
            from callctl.sandbox.jingle import public_view

            d["xmpp"] = public_view(jingle)
        d["ari_url"] = self.ari_url
        return d


def sandbox_root(name: str) -> Path:
    # Checked here, where every command turns a name into the folder `up` and the test
    # fixtures clear: "/" or "../../.." would make that a system directory.
    return paths.state_dir() / "sb" / check_name(name, "sandbox name")


def make_private_root(root: Path) -> None:
    """Create the folders down to a sandbox root (0700), refusing any someone else could change.

    The state dir defaults to a folder under world-writable /tmp: another local user could
    create it first and then swap the configs Asterisk reads or read its secrets.
    """
    for above in reversed(root.relative_to(paths.state_dir()).parents):
        with private_dir(paths.state_dir() / above):
            pass
    with private_dir(root):
        pass


def write_state(state: SandboxState) -> None:
    """Atomically, 0600 from the first byte, never through a planted file (fsutil)."""
    with private_dir(Path(state.root), create=False) as fd:
        write_atomic(fd, STATE_FILE, json.dumps(asdict(state), indent=2).encode("utf-8"))


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
class Connection(Endpoints):
    """How to reach a sandbox's AMI and ARI, and where it logs."""

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
