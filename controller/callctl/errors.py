"""Exceptions callctl raises on purpose, and the exit status each one maps to.

    CallctlError                 every expected failure; carries a hint for the user
    ├── UsageError               bad input: spec, config, arguments      (exit 2)
    ├── IntegrityError           a checksum that does not match          (exit 3)
    ├── BuildError               a build step failed; names step and log (exit 4)
    ├── PatchError               a patch does not apply exactly          (exit 5)
    ├── AsteriskUnavailable      ARI/AMI cannot be reached or refuses    (exit 6)
    └── StateError               on-disk state is missing or inconsistent (exit 7)

Anything else is a bug: the CLI prints a traceback only with --debug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    INTEGRITY = 3
    BUILD = 4
    PATCH = 5
    UNAVAILABLE = 6
    STATE = 7
    INTERRUPTED = 130


class CallctlError(Exception):
    status = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CallctlError):
    status = ExitStatus.USAGE


class IntegrityError(CallctlError):
    status = ExitStatus.INTEGRITY


class BuildError(CallctlError):
    status = ExitStatus.BUILD

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        log_path: str | None = None,
        log_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.step = step
        self.log_path = log_path
        self.log_tail = log_tail


class PatchError(CallctlError):
    status = ExitStatus.PATCH


class AsteriskUnavailable(CallctlError):
    status = ExitStatus.UNAVAILABLE


class StateError(CallctlError):
    status = ExitStatus.STATE
