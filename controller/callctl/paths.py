"""Where callctl keeps its files, overridable by environment for tests and CI."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # controller/callctl/paths.py


def cache_dir() -> Path:
    """Builds, downloads and the compiler cache; survives fresh clones on the same machine."""
    env = os.environ.get("CALLCTL_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "callctl"


def state_dir() -> Path:
    """Runtime state (sandboxes, debug state). Short on purpose: Asterisk's control socket is
    an AF_UNIX path limited to 107 bytes."""
    env = os.environ.get("CALLCTL_STATE")
    return Path(env) if env else Path("/tmp/callctl")


def default_spec() -> Path:
    return REPO_ROOT / "specs" / "default.yaml"
