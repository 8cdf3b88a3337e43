"""A sandbox's state file as `sandbox up` writes it, for tests that plant one themselves (no
Asterisk behind it; no tests here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callctl.sandbox.state import SandboxState


def state_doc(root: Path, **over: Any) -> dict[str, Any]:
    """The JSON object state.json holds for a sandbox "t1" at `root`; `over` changes fields."""
    doc: dict[str, Any] = {
        "name": "t1",
        "root": str(root),
        "pid": 1,
        "build_key": "k",
        "prefix": "/p",
        "asterisk_version": "22.10.1",
        "bind_address": "127.0.0.1",
        "http_port": 1,
        "ami_port": 2,
        "sip_port": 3,
        "ari_user": "callctl",
        "ari_password": "ari-secret",
        "ami_user": "callctl",
        "ami_secret": "ami-secret",
        "started_at": "now",
        "patches": {"asterisk": [], "pjproject": []},
    }
    return doc | over


def planted_state(root: Path, **over: Any) -> SandboxState:
    """`state_doc` read back as `state.read_state` does."""
    return SandboxState(**state_doc(root, **over))
