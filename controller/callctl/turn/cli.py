"""`callctl turn check FILE` and `callctl turn rotate [--json]`.

`rotate` is the one-shot form of what `callctl run --turn-config FILE` keeps doing: for a
systemd timer or cron when the daemon does not run, or to write the include before Asterisk
starts (`--no-reload`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callctl.errors import ExitStatus, UsageError
from callctl.turn.settings import check_turn_file, load_turn_config

if TYPE_CHECKING:
    from callctl.cli import Console

CONFIG_ENV = "CALLCTL_TURN_CONFIG"


def register(sub: Any) -> None:
    from callctl.cli import add_json_flag
    from callctl.debug.cli import add_ami_flags

    p = sub.add_parser(
        "turn",
        help="Asterisk's TURN credential for coturn's use-auth-secret (docs/turn.md)",
    )
    tsub = p.add_subparsers(dest="turn_command", metavar="ACTION")
    tsub.required = True

    check = tsub.add_parser("check", help="validate a TURN config, listing every error")
    check.add_argument("file", type=Path, metavar="FILE")
    add_json_flag(check)
    check.set_defaults(func=cmd_check)

    rotate = tsub.add_parser(
        "rotate", help="write a new credential when due (or --force) and reload res_rtp_asterisk"
    )
    rotate.add_argument(
        "--config", type=Path, metavar="FILE", help=f"TURN config (default: ${CONFIG_ENV})"
    )
    rotate.add_argument("--force", action="store_true", help="issue a new one even if not due")
    rotate.add_argument(
        "--no-reload", action="store_true", help="only write the include (Asterisk not started)"
    )
    add_ami_flags(rotate, debug_state=False)
    add_json_flag(rotate)
    rotate.set_defaults(func=cmd_rotate)


def config_path(explicit: Path | None) -> Path:
    """--config, else $CALLCTL_TURN_CONFIG (no default: TURN is opt-in)."""
    named = explicit or os.environ.get(CONFIG_ENV)
    if not named:
        raise UsageError("no TURN config given", hint=f"pass --config FILE or set {CONFIG_ENV}")
    return Path(named)


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from callctl.routing.cli import report_check

    _, issues = check_turn_file(args.file)
    return report_check(console, "turn-check", args.file, issues)


def cmd_rotate(args: argparse.Namespace, console: Console) -> int:
    from callctl.debug.cli import ami_config
    from callctl.turn.rotator import TurnRotator

    settings = load_turn_config(config_path(args.config))
    rotator = TurnRotator(settings, None if args.no_reload else ami_config(args))
    rotation = asyncio.run(rotator.rotate_once(force=args.force, reload=not args.no_reload))
    credential = rotation.credential
    if console.json:
        console.emit_json(
            "turn-rotate",
            {
                "issued": rotation.issued,
                "reason": rotation.reason,
                "username": credential.username,
                "expires": credential.expires,
                "server": credential.server,
                "include": str(settings.include),
                "reloaded": not args.no_reload,
            },
        )
        return int(ExitStatus.OK)
    what = f"issued ({rotation.reason})" if rotation.issued else "kept (not due)"
    console.result(f"{credential.username} {what}, in {settings.include}")
    if not args.no_reload:
        console.result("res_rtp_asterisk reloaded")
    return int(ExitStatus.OK)
