"""`callctl probe`: place a synthetic Jingle call through the gateway and hang up."""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callctl.cli import add_json_flag
from callctl.errors import ExitStatus, UsageError
from callctl.probe.choice import CLIENTS

if TYPE_CHECKING:
    from callctl.cli import Console
    from callctl.probe.choice import Choice
    from callctl.probe.target import Resolved
    from callctl.probe.timeline import Timeline

# What a call runner gives back besides the timeline: the media counters, when it reads them.
Runner = Callable[["Timeline"], Awaitable[dict[str, Any] | None]]

# Exit status of a probe call that failed at a stage (the message names the stage).
PROBE_FAILED = ExitStatus.ERROR


def register(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="a synthetic Jingle call through the gateway, stage by stage (canary)",
        description="Calls a number JID, waits for the answer, connects ICE, sends audio and "
        "waits for audio back, hangs up. With no arguments: the Jingle sandbox's echo number. "
        "Exits non-zero naming the stage that failed.",
    )
    p.add_argument("--to", metavar="NUMBER", help="number or number JID (default: echo number)")
    p.add_argument(
        "--client",
        choices=CLIENTS,
        default="auto",
        help="chromium (headless, the StanzaJS page of the real-client tests), builtin "
        "(Python: slixmpp + aioice), or auto: chromium when it, node and the npm packages "
        "are installed, else builtin",
    )
    p.add_argument(
        "--install-browser",
        action="store_true",
        help="install the chromium client's npm packages (npm ci, into the cache) and exit",
    )
    p.add_argument("--sandbox", default="default", metavar="NAME", help="sandbox to probe")
    p.add_argument("--config", type=Path, metavar="FILE", help="YAML settings (deployed gateway)")
    p.add_argument("--server", metavar="HOST:PORT", help="XMPP server (c2s) of the gateway")
    p.add_argument("--jid", help="the probe's account; password from $CALLCTL_PROBE_PASSWORD")
    p.add_argument("--password-file", metavar="FILE")
    p.add_argument("--gateway-domain", metavar="DOMAIN", help="for --to NUMBER")
    p.add_argument("--media-address", metavar="IP", help="local address for the media sockets")
    p.add_argument("--websocket", metavar="URL", help="XMPP WebSocket URL (chromium client)")
    p.add_argument(
        "--plaintext", action="store_true", help="allow PLAIN without TLS (loopback servers)"
    )
    p.add_argument(
        "--dtls",
        choices=("auto", "on", "off"),
        default="auto",
        help="offer DTLS-SRTP: auto (when the number JID advertises it, as clients do), on, off",
    )
    p.add_argument(
        "--jmi",
        choices=("auto", "on", "off"),
        default="auto",
        help="start with a XEP-0353 <propose/>: auto (when advertised, as Conversations "
        "and Dino do), on, off (a direct session-initiate, as Gajim)",
    )
    p.add_argument("--answer-timeout", type=float, default=None, metavar="S")
    p.add_argument("--ice-log", type=Path, metavar="FILE", help="Asterisk debug log to analyse")
    p.add_argument(
        "--no-debug",
        action="store_true",
        help="against the sandbox: do not turn debug logging on for the call (no ICE analysis)",
    )
    p.add_argument(
        "--metrics", type=Path, metavar="FILE", help="write the result (Prometheus textfile)"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_probe)


def _settings(args: argparse.Namespace) -> dict[str, Any] | None:
    from callctl.probe.target import read_config

    s: dict[str, Any] = read_config(args.config) if args.config else {}
    flags = {
        "server": args.server,
        "jid": args.jid,
        "password_file": args.password_file,
        "to": args.to,
        "gateway_domain": args.gateway_domain,
        "media_address": args.media_address,
        "ice_log": str(args.ice_log) if args.ice_log else None,
        "websocket": args.websocket,
    }
    s.update({k: v for k, v in flags.items() if v is not None})
    if args.plaintext:
        s["plaintext"] = True
    deployed = any(k in s for k in ("server", "jid", "media_address"))
    return s if deployed else None


def cmd_probe(args: argparse.Namespace, console: Console) -> int:
    if args.install_browser:
        return _install_browser(console)
    from callctl.probe import target

    settings = _settings(args)
    resolved = (
        target.from_settings(settings)
        if settings is not None
        else target.from_sandbox(args.sandbox, args.to)
    )
    choice = _choose(args, resolved)
    timeout = float(args.answer_timeout or (settings or {}).get("answer_timeout") or 30.0)
    console.progress(f"probe: {resolved.jid} calls {resolved.to} via {resolved.label}")
    console.progress(f"probe: client {choice.client} ({choice.reason})")
    runner = (
        _chromium(resolved, timeout, args.jmi)
        if choice.client == "chromium"
        else _builtin(resolved, timeout, args.dtls, args.jmi)
    )
    timeline, media, analysis, warnings = _run(resolved, runner, debug=not args.no_debug)
    for w in warnings:
        console.error(f"callctl: warning: {w}")
    if args.metrics:
        from callctl.probe import metrics

        metrics.write(args.metrics, metrics.render(timeline, resolved.label, time.time()))
    if console.json:
        console.emit_json(
            "probe",
            {
                "target": resolved.label,
                "to": resolved.to,
                "client": choice.to_json(),
                **timeline.to_json(),
                "media": media,
                "ice": analysis,
            },
        )
    else:
        _print(choice, timeline, media, analysis, console)
    return ExitStatus.OK if timeline.passed else PROBE_FAILED


def _install_browser(console: Console) -> int:
    from callctl.probe.browser import modules

    console.progress(f"probe: the browser client's npm packages in {modules.install_root()}")
    where, why = modules.try_install()
    if where is None:
        raise UsageError(why, hint="npm ci needs npm and the npm registry (or its cache)")
    console.result(f"browser client's npm packages: {where}")
    return ExitStatus.OK


def _choose(args: argparse.Namespace, resolved: Resolved) -> Choice:
    from callctl.probe.browser.modules import missing, modules_dir
    from callctl.probe.choice import choose

    gone = missing("chromium", modules_dir()) if args.client != "builtin" else []
    return choose(args.client, gone, resolved.websocket, args.dtls)


def _chromium(resolved: Resolved, answer_timeout: float, jmi: str) -> Runner:
    from callctl.probe.browser.call import BrowserCall, BrowserTarget

    r, ws = resolved, resolved.websocket
    assert ws is not None  # _choose takes chromium only with one
    call = BrowserTarget(ws, r.netns, r.jid, r.password, r.to, jmi, answer_timeout)

    async def run(timeline: Timeline) -> dict[str, Any] | None:
        browser = BrowserCall(call, timeline)
        await browser.run()
        return browser.media

    return run


def _builtin(resolved: Resolved, answer_timeout: float, dtls: str, jmi: str) -> Runner:
    try:
        from callctl.probe.client import CallTarget, ProbeCall
    except ImportError as exc:  # the optional extra is not installed
        raise UsageError(
            f"the builtin probe client needs slixmpp and aioice ({exc.name} is missing)",
            hint="pip install 'callctl[probe]' (bootstrap.sh installs it)",
        ) from None
    r = resolved
    account = (r.server, r.jid, r.password, r.to)
    media = (r.socket_factory, r.candidate_allowed)
    call = CallTarget(*account, *media, r.plaintext, dtls, jmi, answer_timeout)

    async def run(timeline: Timeline) -> dict[str, Any] | None:
        await ProbeCall(call, timeline).run()
        return None

    return run


def _run(
    resolved: Resolved, runner: Runner, debug: bool
) -> tuple[Timeline, dict[str, Any] | None, dict[str, Any] | None, list[str]]:
    """Run the call inside a debug window (the sandbox) and analyse the log it wrote."""
    import asyncio
    import contextlib

    from callctl.probe.debuglog import DebugWindow, around_call
    from callctl.probe.timeline import Timeline

    timeline = Timeline()

    async def main() -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
        ctx = (
            around_call(resolved.ami)
            if debug and resolved.ami is not None
            else contextlib.nullcontext(DebugWindow(resolved.ice_log))
        )
        async with ctx as window:
            log: Path | None = window.log or resolved.ice_log
            offset = log.stat().st_size if log is not None and log.is_file() else 0
            media: dict[str, Any] | None = await runner(timeline)
        return media, _analyse(log, offset), window.warnings

    media, analysis, warnings = asyncio.run(main())
    return timeline, media, analysis, warnings


def _analyse(log: Path | None, offset: int) -> dict[str, Any] | None:
    """The ICE analysis of what the log gained during the call (None: no log to read)."""
    if log is None or not log.is_file():
        return None
    from callctl.icelog.analyzer import IceLogAnalyzer

    a = IceLogAnalyzer()
    with log.open("rb") as f:
        f.seek(offset)
        while chunk := f.read(1 << 20):
            a.feed(chunk)
    a.finish()
    report: dict[str, Any] = a.report()
    report["log"] = str(log)
    return report


def _print(
    choice: Choice,
    timeline: Timeline,
    media: dict[str, Any] | None,
    analysis: dict[str, Any] | None,
    console: Console,
) -> None:
    console.result(f"client: {choice.client} ({choice.reason})")
    console.result(f"  {'stage':<17} {'event':<17} {'time':>12}")
    for event, phase, seconds, note in timeline.rows():
        when = f"{seconds * 1000:9.1f} ms" if seconds is not None else "-"
        shown = note or ("" if seconds is not None else "(not seen)")
        console.result(f"  {phase:<17} {event:<17} {when:>12}  {shown}")
    if media is not None:
        console.result(
            f"audio ({media.get('codec') or '?'}): sent {media.get('packetsSent')} packets "
            f"({media.get('bytesSent')} bytes), received {media.get('packetsReceived')} "
            f"({media.get('bytesReceived')} bytes)"
        )
    if analysis is None:
        console.result("ICE analysis: no Asterisk log to read (--ice-log FILE)")
    elif not (analysis["sessions_total"] or analysis["findings"]):
        console.result(
            f"ICE analysis: no ICE events in {analysis['log']} during the call "
            "(pjproject logs them at level 4 or more: `callctl debug on`)"
        )
    else:
        from callctl.icelog.report import render_text

        console.result(f"ICE analysis ({analysis['log']}):")
        for line in render_text(analysis, 20):
            console.result(f"  {line}")
    console.result(timeline.summary())
