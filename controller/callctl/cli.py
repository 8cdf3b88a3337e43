"""The `callctl` command line: argument parsing, output, and error-to-exit-status mapping.

Each capability registers its own subcommands (`register(subparsers)`); handlers receive the
parsed arguments and a `Console`, return an exit status, and raise `CallctlError` for expected
failures. Nothing here knows about Asterisk.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from callctl import __version__
from callctl.errors import BuildError, CallctlError, ExitStatus

# Modules that contribute subcommands, in help order. Each has `register(subparsers)`.
COMMAND_MODULES = (
    "callctl.build.cli",
    "callctl.sandbox.cli",
    "callctl.routing.cli",
    "callctl.debug.cli",
    "callctl.icelog.cli",
    "callctl.daemon.cli",
    "callctl.turn.cli",
    "callctl.probe.cli",
)

JSON_FORMAT_VERSION = "1"

Handler = Callable[[argparse.Namespace, "Console"], int]


@dataclass
class Console:
    """Where a command writes: results to stdout, progress and errors to stderr."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    json: bool = False
    quiet: bool = False

    def result(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def emit_json(self, kind: str, payload: dict[str, Any]) -> None:
        doc = {"version": JSON_FORMAT_VERSION, "kind": kind, **payload}
        print(json.dumps(doc, indent=2, sort_keys=True, default=str), file=self.stdout, flush=True)

    def progress(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stderr, flush=True)

    def error(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callctl",
        description="Build, run and debug an Asterisk gateway between Jingle clients and phones.",
    )
    parser.add_argument("--version", action="version", version=f"callctl {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for unexpected errors"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (versioned JSON)"
    )


def report_error(err: CallctlError, console: Console) -> None:
    console.error(f"callctl: error: {err.message}")
    if isinstance(err, BuildError):
        if err.step:
            console.error(f"  failed step: {err.step}")
        if err.log_tail:
            console.error("  last lines of the log:")
            for line in err.log_tail.rstrip("\n").splitlines():
                console.error(f"    | {line}")
        if err.log_path:
            console.error(f"  full log: {err.log_path}")
    if err.hint:
        console.error(f"  hint: {err.hint}")


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = console or Console()
    console.json = bool(getattr(args, "json", False))
    console.quiet = bool(args.quiet)
    handler: Handler = args.func
    # SIGTERM (systemd, timeout, kill) cleans up like Ctrl-C: child process groups are
    # stopped and half-done work removed, instead of dying mid-step.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    try:
        return int(handler(args, console))
    except CallctlError as err:
        if console.json:
            console.emit_json(
                "error",
                {"error": err.message, "hint": err.hint, "type": type(err).__name__},
            )
        report_error(err, console)
        return int(err.status)
    except KeyboardInterrupt:
        console.error("callctl: interrupted")
        return int(ExitStatus.INTERRUPTED)
    except Exception:
        if args.debug:
            traceback.print_exc(file=console.stderr)
        else:
            console.error(
                "callctl: internal error (a bug); run again with --debug for the traceback"
            )
        return int(ExitStatus.ERROR)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
