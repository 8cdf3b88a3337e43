"""Is a recorded pid still the process we started? Asked of /proc before any signal is sent."""

from __future__ import annotations

from pathlib import Path


def runs_with(pid: int, program: str, config: Path, *, name_within: int = 1) -> bool:
    """True while `pid` is `program` started with `config` among its arguments.

    The program's name must end one of the first `name_within` arguments (prosody runs
    under a lua interpreter, so it is the second). A pid reused by another process, or a
    zombie (its cmdline is empty), is not ours.
    """
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    name = program.encode()
    return any(a.endswith(name) for a in args[:name_within]) and str(config).encode() in args
