"""Turning debug logging on and off over AMI, safely; and enforcing the expiry.

Safety rules (issue 4):
- Prior state is read before anything changes and written to the state file first.
- After each applied step the state file is rewritten, so the undo list on disk is always
  exact. Undo commands set absolute values (`core set debug 3`, `pjproject set log level 3`,
  `logger remove channel X`), so running one twice is harmless.
- Any failure while turning on undoes what was applied, in reverse, and reports both.
  If the AMI connection was lost, the undo runs on a new connection and includes the step
  that was in flight (it may or may not have run).
- Nothing is ever re-sent automatically (see `callctl.asterisk.ami`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from callctl.asterisk.ami import (
    AmiCommandRejected,
    AmiConfig,
    AmiError,
    AmiSession,
    CommandRunner,
)
from callctl.debug import _parse as P
from callctl.debug import capture as C
from callctl.debug._model import (
    DEFAULT_DURATION,
    DEFAULT_LEVEL,
    DEFAULT_NAME,
    MAX_DURATION,
    DebugState,
    Prior,
    Step,
    check_level,
    check_name,
    format_duration,
    now_utc,
    parse_categories,
    plan_keys,
    relevel_steps,
)
from callctl.debug._store import StateStore
from callctl.errors import AsteriskUnavailable, CallctlError, StateError, UsageError

log = logging.getLogger(__name__)

SessionFactory = Callable[[AmiConfig], Any]  # returns an async context manager -> CommandRunner


def capture_tag(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class StepFailed(AsteriskUnavailable):
    """A command of the sequence did not do what it should."""


class RolledBack(AsteriskUnavailable):
    """`debug on` failed part-way and what it had changed was undone."""


def who_asked() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid()}


@dataclass
class OnResult:
    action: str  # "started" or "extended"
    state: DebugState
    warnings: list[str] = field(default_factory=list)


@dataclass
class OffResult:
    action: str  # "stopped" or "noop"
    state: DebugState | None
    reason: str
    warnings: list[str] = field(default_factory=list)


def _expect_level(what: str, new: int, want: int) -> None:
    if new != want:
        raise P.UnexpectedOutput(f"{what} is {new}, not {want}")


def _check_either_way(key: str, cmd: str, out: list[str]) -> None:
    """The checks a step's answer gets alike whether it was applied or undone."""
    if key == "pjsip_logger":
        P.check_pjsip_logger(cmd, out)
    elif key == "categories":
        P.check_silent(cmd, out)


async def _run_checked(
    ami: CommandRunner, commands: Sequence[str], check: Callable[[str, list[str]], None], verb: str
) -> None:
    """Run each command in turn; an answer `check(cmd, output)` does not accept (it raises
    UnexpectedOutput) fails the step, and the commands after it are not sent."""
    for cmd in commands:
        out = (await ami.command(cmd)).output
        try:
            check(cmd, out)
        except P.UnexpectedOutput as err:
            raise StepFailed(f"{verb}{cmd!r} failed: {err}") from None


class DebugService:
    """Debug logging of one Asterisk (the AMI target in `ami`)."""

    def __init__(
        self,
        ami: AmiConfig,
        *,
        store: StateStore | None = None,
        state_dir: Path | None = None,
        session_factory: SessionFactory = AmiSession,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.ami = ami
        self.store = store or StateStore.for_target(ami.target, state_dir)
        self.session_factory = session_factory
        self.clock = clock

    # -- sessions --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[CommandRunner]:
        async with self.session_factory(self.ami) as ami:
            yield ami

    # -- reading -----------------------------------------------------------------------------
    async def read_prior(self, ami: CommandRunner, pjsip_logger_was: str | None) -> Prior:
        try:
            core = P.parse_core_settings((await ami.command("core show settings")).output)
            pj = P.parse_pjproject_level((await ami.command("pjproject show log level")).output)
            channels = P.parse_logger_channels((await ami.command("logger show channels")).output)
            if pjsip_logger_was is not None:
                pjsip, source = pjsip_logger_was, "operator"
            else:
                try:
                    out = (await ami.command("pjsip show settings")).output
                except AmiCommandRejected:
                    # res_pjsip is not loaded: there is no pjsip logger to turn on.
                    pjsip, source = "absent", "config"
                else:
                    setting = P.parse_pjsip_debug_setting(out)
                    pjsip, source = P.pjsip_logger_from_setting(setting), "config"
        except P.UnexpectedOutput as err:
            raise StepFailed(f"cannot read Asterisk's current logging state: {err}") from None
        return Prior(
            core_debug=core.debug_level,
            pjproject_level=pj.level,
            pjproject_default=pj.is_default,
            pjsip_logger=pjsip,
            pjsip_logger_source=source,
            channels=[c.name for c in channels],
            log_dir=core.log_dir,
        )

    async def _channels(self, ami: CommandRunner) -> list[P.LogChannel]:
        try:
            return P.parse_logger_channels((await ami.command("logger show channels")).output)
        except P.UnexpectedOutput as err:
            raise StepFailed(f"cannot list logger channels: {err}") from None

    # -- applying and undoing single steps -----------------------------------------------------
    async def _apply(
        self,
        ami: CommandRunner,
        step: Step,
        name: str,
        level: int,
        warnings: list[str],
        spec: C.CaptureSpec | None = None,
    ) -> None:
        if step.key == "capture":
            assert spec is not None
            await C.start(spec)
            return

        def check(cmd: str, out: list[str]) -> None:
            if step.key == "channel":
                P.check_logger_add(name, out)
            elif step.key == "core_debug":
                _expect_level("core debug", P.parse_core_set_debug(out)[1], level)
            elif step.key == "pjproject":
                _, new, lowered = P.parse_pjproject_set(out)
                if lowered:
                    warnings.append(f"Asterisk capped the pjproject log level at {new}")
                else:
                    _expect_level("pjproject log level", new, level)
            else:
                _check_either_way(step.key, cmd, out)

        await _run_checked(ami, step.apply, check, "")

    async def _undo_step(
        self, ami: CommandRunner, state: DebugState, step: Step, warnings: list[str]
    ) -> None:
        prior = state.prior
        if step.key == "capture":
            assert state.capture is not None
            warnings.extend(await C.stop(state.capture))
            return

        def check(cmd: str, out: list[str]) -> None:
            if step.key == "channel":
                if not P.check_logger_remove(out):
                    warnings.append(
                        f"logger channel {state.name!r} was already gone "
                        "(Asterisk restarted, or someone removed it)"
                    )
            elif step.key == "core_debug":
                _expect_level("core debug", P.parse_core_set_debug(out)[1], prior.core_debug)
            elif step.key == "pjproject":
                new = P.parse_pjproject_set(out)[1]
                _expect_level("pjproject log level", new, prior.pjproject_level)
            else:
                _check_either_way(step.key, cmd, out)

        await _run_checked(ami, step.undo, check, "undo ")

    async def _undo_all(
        self, ami: CommandRunner, state: DebugState, warnings: list[str]
    ) -> StateError | None:
        """Undo every applied step, newest first, recording progress after each.

        Undoing comes first: a state file that cannot be rewritten (a full disk) does not
        stop it. Returns the first recording failure, if any (the file may then list steps
        already undone; their undo sets absolute values, so running it again is harmless).
        """
        record_err: StateError | None = None
        for step in state.undo_order():
            await self._undo_step(ami, state, step, warnings)
            state.applied.remove(step.key)
            try:
                self.store.save(state)
            except StateError as err:
                record_err = record_err or err
        return record_err

    async def _verify_restored(
        self, ami: CommandRunner, state: DebugState, undone: list[str]
    ) -> list[str]:
        """What of the steps `undone` still differs from the recorded prior, read back.

        Steps found not undone go back into `state.applied` (so the file keeps them for the
        next `off`). The pjsip logger cannot be read back: Asterisk has no command for it.
        """
        left: dict[str, str] = {}
        prior = state.prior
        if "capture" in undone and state.capture is not None:
            pids = [pid for pids in C.running(state.capture).values() for pid in pids]
            if pids:
                left["capture"] = f"capture processes still run (pids {pids})"
        try:
            channels = await self._channels(ami) if "channel" in undone else []
            if any(c.matches(state.log_file) for c in channels):
                left["channel"] = f"logger channel {state.log_file} is still there"
            if "core_debug" in undone:
                core = P.parse_core_settings((await ami.command("core show settings")).output)
                if core.debug_level != prior.core_debug:
                    left["core_debug"] = f"core debug is {core.debug_level}, not {prior.core_debug}"
            if "pjproject" in undone:
                out = (await ami.command("pjproject show log level")).output
                pj = P.parse_pjproject_level(out)
                if pj.level != prior.pjproject_level:
                    left["pjproject"] = (
                        f"pjproject log level is {pj.level}, not {prior.pjproject_level}"
                    )
        except P.UnexpectedOutput as err:
            return [f"could not read the logging state back: {err}"]
        state.applied = [k for k in state.planned if k in left or k in state.applied]
        return list(left.values())

    def _record_off(self, state: DebugState, reason: str) -> str | None:
        """Record that the session ended; on failure drop the file. Returns a warning."""
        history = list(state.history)
        history.append(self._record(state, reason))
        try:
            self.store.save_off(history)
            return None
        except StateError as err:
            try:
                self.store.remove()
            except StateError as rm_err:
                return (
                    f"{err.message}; removing it failed too ({rm_err.message}): it still says "
                    "debug is on, so the next `off` or expiry will undo again (harmless)"
                )
            return f"{err.message}; removed it instead (the session history is lost)"

    async def _undo_with_fresh_session(
        self, state: DebugState, warnings: list[str]
    ) -> tuple[StateError | None, list[str]]:
        undone = list(state.applied)
        async with self._session() as ami:
            record_err = await self._undo_all(ami, state, warnings)
            return record_err, await self._verify_restored(ami, state, undone)

    # -- on ----------------------------------------------------------------------------------
    async def _clear_leftover(
        self, ami: CommandRunner, state: DebugState, reason: str, warnings: list[str]
    ) -> None:
        """Undo what a previous session left applied, or refuse to go on."""
        key = state.maybe_in_flight()
        if key is not None:
            state.applied.append(key)  # it may have run before the record was written
        state.status = "turning_off"
        self._save_quietly(state, warnings)
        undone = list(state.applied)
        await self._undo_all(ami, state, warnings)
        left = await self._verify_restored(ami, state, undone)
        if left:
            self._save_quietly(state, warnings)
            raise StepFailed(
                f"could not restore the state recorded in {self.store.path}: {'; '.join(left)}",
                hint="fix it by hand (see `callctl debug status`), then delete the state file",
            )
        warning = self._record_off(state, reason)
        if warning:
            warnings.append(warning)

    def _save_quietly(self, state: DebugState, warnings: list[str]) -> None:
        try:
            self.store.save(state)
        except StateError as err:
            warnings.append(f"{err.message} (going on: undoing comes first)")

    async def on(
        self,
        *,
        name: str = DEFAULT_NAME,
        duration: timedelta = DEFAULT_DURATION,
        level: int = DEFAULT_LEVEL,
        pjsip_logger_was: str | None = None,
        categories: tuple[str, ...] = (),
        categories_were: tuple[str, ...] | None = None,
        capture: C.CaptureRequest | None = None,
    ) -> OnResult:
        """`capture`: also capture UDP on the RTP port range (`callctl.debug.capture`).
        `categories` (see `_model.CATEGORIES`): enable these Asterisk debug categories
        instead of raising the core debug level; `categories_were`: which of them were on
        before (Asterisk cannot report it; by default none)."""
        check_name(name)
        if categories:
            parse_categories(",".join(categories))
        if categories_were:
            parse_categories(",".join(categories_were))
        if capture is not None:
            capture.check()
            if capture.iface is None and C.default_iface(self.ami.host) is None:
                raise UsageError(
                    "--capture needs --capture-iface for a target that is not on loopback",
                    hint="the interface Asterisk's media uses on this host",
                )
        check_level(level)
        if duration > MAX_DURATION:
            raise UsageError(f"duration is longer than {format_duration(MAX_DURATION)}")
        if pjsip_logger_was not in (None, "on", "off"):
            raise UsageError("--pjsip-logger-was must be 'on' or 'off'")
        warnings: list[str] = []
        async with self.store.locked():
            state = self.store.load()
            async with self._session() as ami:
                if state is not None and state.status != "on":
                    warnings.append(
                        f"a previous debug session was interrupted while {state.status}; "
                        "undoing what it left applied first"
                    )
                    await self._clear_leftover(ami, state, "interrupted", warnings)
                    state = None
                if state is not None:
                    channels = await self._channels(ami)
                    if any(c.matches(state.log_file) for c in channels):
                        if tuple(categories) != state.categories:
                            warnings.append(
                                "debug is already on with categories "
                                f"{','.join(state.categories) or '(none: core debug level)'}; "
                                "--category ignored (run `off` first to change them)"
                            )
                        if capture is not None and state.capture is None:
                            warnings.append(
                                "debug is already on without a capture; --capture ignored "
                                "(run `off` first)"
                            )
                        return await self._extend(ami, state, name, duration, level, warnings)
                    warnings.append(
                        f"logger channel {state.name!r} is gone (Asterisk restarted or it was "
                        "removed by hand): restoring the recorded prior state, then starting over"
                    )
                    await self._clear_leftover(ami, state, "channel vanished", warnings)
                history = self.store.history()
                return await self._start(
                    ami,
                    name,
                    duration,
                    level,
                    pjsip_logger_was,
                    warnings,
                    history,
                    tuple(categories),
                    categories_were,
                    capture,
                )

    async def _extend(
        self,
        ami: CommandRunner,
        state: DebugState,
        name: str,
        duration: timedelta,
        level: int,
        warnings: list[str],
    ) -> OnResult:
        if name != state.name:
            warnings.append(
                f"debug is already on with channel {state.name!r}; --name {name} ignored"
            )
        if level != state.level:
            for step in relevel_steps(state.prior, state.level, level, state.categories):
                await self._apply(ami, step, state.name, level, warnings)
                if step.key not in state.applied:
                    if step.key not in state.planned:
                        state.planned.append(step.key)
                    state.applied.append(step.key)
            state.level = level
        now = self.clock()
        if state.capture is not None and "capture" in state.applied:
            # A new capture bounded by the new expiry, then the old one stopped.
            old = state.capture
            new = replace(
                old, tag=capture_tag(now), seconds=C.seconds_until(duration.total_seconds())
            )
            await C.start(new)
            state.capture = new
            self.store.save(state)
            warnings.extend(await C.stop(old))
        state.expires = now + duration
        ext = state.requested_by.setdefault("extended_by", [])
        ext.append({**who_asked(), "at": now.isoformat(timespec="seconds")})
        del ext[:-5]
        self.store.save(state)
        return OnResult("extended", state, warnings)

    async def _start(
        self,
        ami: CommandRunner,
        name: str,
        duration: timedelta,
        level: int,
        pjsip_logger_was: str | None,
        warnings: list[str],
        history: list[dict[str, Any]],
        categories: tuple[str, ...] = (),
        categories_were: tuple[str, ...] | None = None,
        capture: C.CaptureRequest | None = None,
    ) -> OnResult:
        prior = await self.read_prior(ami, pjsip_logger_was)
        if categories_were is not None:
            prior = replace(prior, categories=categories_were, categories_source="operator")
        log_dir = prior.log_dir or "/var/log/asterisk"
        log_file = str(PurePosixPath(log_dir) / name)
        taken = [c for c in prior.channels if c == log_file[: P.CHANNEL_NAME_WIDTH]]
        if taken:
            raise UsageError(
                f"Asterisk already has a logger channel {log_file!r} that callctl did not add",
                hint="pick another --name, or remove that channel yourself",
            )
        now = self.clock()
        spec = None
        if capture is not None:
            spec = await self._capture_spec(ami, capture, log_file, name, now, duration)
        state = DebugState(
            status="turning_on",
            target=self.ami.target,
            name=name,
            level=level,
            log_file=log_file,
            prior=prior,
            planned=plan_keys(prior, level, categories, capture=spec is not None),
            applied=[],
            since=now,
            expires=now + duration,
            requested_by={**who_asked(), "at": now.isoformat(timespec="seconds")},
            history=history[-10:],
            categories=categories,
            capture=spec,
        )
        self.store.save(state)  # nothing is changed unless the prior state is recorded
        current: Step | None = None
        try:
            for step in state.steps:
                current = step
                await self._apply(ami, step, name, level, warnings, spec)
                state.applied.append(step.key)
                self.store.save(state)
                current = None
        except (CallctlError, OSError) as err:
            await self._rollback(state, current, err, warnings)
            raise  # _rollback always raises; this keeps type checkers informed
        state.status = "on"
        self.store.save(state)
        return OnResult("started", state, warnings)

    async def _capture_spec(
        self,
        ami: CommandRunner,
        req: C.CaptureRequest,
        log_file: str,
        name: str,
        now: datetime,
        duration: timedelta,
    ) -> C.CaptureSpec:
        if req.ports is not None:
            lo, hi = req.ports
        else:
            try:
                lo, hi = P.parse_rtp_ports((await ami.command("rtp show settings")).output)
            except (P.UnexpectedOutput, AmiCommandRejected) as err:
                raise StepFailed(
                    f"cannot read the RTP port range: {getattr(err, 'message', err)}",
                    hint="give it with --capture-ports LOW-HIGH",
                ) from None
        directory = str(PurePosixPath(log_file).parent)
        iface = req.iface or C.default_iface(self.ami.host) or ""
        try:
            return C.CaptureSpec(
                iface=iface,
                port_lo=lo,
                port_hi=hi,
                directory=directory,
                stem=name,
                tag=capture_tag(now),
                seconds=C.seconds_until(duration.total_seconds()),
                file_mb=max(1, req.mb // C.RING_FILES),
                files=C.RING_FILES,
                snaplen=req.snaplen,
                user=C.owner_name(directory),
            ).check()
        except StateError as err:
            raise UsageError(f"cannot capture: {err.message}") from None

    async def _rollback(
        self,
        state: DebugState,
        in_flight: Step | None,
        err: BaseException,
        warnings: list[str],
    ) -> NoReturn:
        """Undo after a failed `on`, then record, then raise an error that says what happened.

        Undo comes first: if the failure was the state file itself (a full disk), waiting for
        a successful save before undoing would leave debug applied with no record of it.
        """
        # A rejected command, a step's odd answer or a failed save leave the connection good.
        lost = not isinstance(err, AmiCommandRejected | StepFailed | StateError | C.CaptureFailed)
        foreign_channel = (
            in_flight is not None
            and in_flight.key == "channel"
            and "already exists" in str(getattr(err, "message", err))
        )
        refused = isinstance(err, AmiCommandRejected)
        if (
            in_flight is not None
            and in_flight.key not in state.applied
            and not foreign_channel
            and not refused
        ):
            # The in-flight command may have run (a reply lost or late, or an unexpected
            # reply after it ran): undo it too. Undo commands set absolute values, so this is
            # safe either way; a channel someone else created meanwhile is left alone.
            state.applied.append(in_flight.key)
        state.status = "turning_off"
        self._save_quietly(state, warnings)
        what = ", ".join(state.applied) or "nothing"
        message = getattr(err, "message", str(err))
        try:
            if lost:
                _, left = await self._undo_with_fresh_session(state, warnings)
            else:
                undone = list(state.applied)
                async with self._session() as ami:
                    await self._undo_all(ami, state, warnings)
                    left = await self._verify_restored(ami, state, undone)
        except (CallctlError, OSError) as undo_err:
            msg = getattr(undo_err, "message", str(undo_err))
            raise StepFailed(
                f"debug on failed: {message}; rolling back "
                f"({', '.join(state.applied)}) also failed: {msg}",
                hint=f"the state file {self.store.path} records what is still applied; "
                "run `callctl debug off` when Asterisk answers again",
            ) from err
        if left:
            self._save_quietly(state, warnings)
            raise StepFailed(
                f"debug on failed: {message}; rolled back ({what}) but NOT restored: "
                + "; ".join(left),
                hint="fix it by hand; `callctl debug status` shows the recorded prior state",
            ) from err
        warning = self._record_off(state, "rolled back")
        note = f"; the state file could not be updated: {warning}" if warning else ""
        raise RolledBack(
            f"{message} (rolled back: {what}; Asterisk is as before{note})",
            hint=getattr(err, "hint", None),
        ) from err

    # -- off / expire ------------------------------------------------------------------------
    async def off(self, *, reason: str = "requested", only_if_expired: bool = False) -> OffResult:
        async with self.store.locked():
            state = self.store.load()
            if state is None:
                return OffResult("noop", None, "debug logging is not on")
            if only_if_expired and state.status == "on" and not state.expired(self.clock()):
                return OffResult("noop", state, "not expired yet")
            warnings: list[str] = []
            key = state.maybe_in_flight()
            if key is not None:
                # `on` died (or could not record) after sending this step: it may have run.
                state.applied.append(key)
            state.status = "turning_off"
            self._save_quietly(state, warnings)
            undone = list(state.applied)
            try:
                async with self._session() as ami:
                    await self._undo_all(ami, state, warnings)
                    left = await self._verify_restored(ami, state, undone)
            except CallctlError as err:
                if err.hint is None:
                    still = ", ".join(state.applied) or "nothing"
                    err.hint = (
                        f"still applied: {still} (recorded in {self.store.path}); run "
                        "`callctl debug off` again once Asterisk answers"
                    )
                raise
            if left:
                self._save_quietly(state, warnings)
                raise StepFailed(
                    f"debug logging on {state.target} was NOT restored: " + "; ".join(left),
                    hint=f"the recorded prior state is in {self.store.path} "
                    "(`callctl debug status`); fix it by hand, then delete that file",
                )
            warning = self._record_off(state, reason)
            if warning:
                warnings.append(f"Asterisk is restored, but the state file: {warning}")
            return OffResult("stopped", state, reason, warnings)

    async def expire(self) -> OffResult:
        """Turn debug off if its expiry has passed (or finish an interrupted toggle)."""
        state = self.store.load()
        if state is None:
            return OffResult("noop", None, "debug logging is not on")
        if state.status == "on" and not state.expired(self.clock()):
            return OffResult("noop", state, "not expired yet")
        return await self.off(reason="expired", only_if_expired=True)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self.clock()
        state = self.store.load()
        if state is None:
            hist = self.store.history()
            return {
                "on": False,
                "target": self.ami.target,
                "state_file": str(self.store.path),
                "last": hist[-1] if hist else None,
            }
        size: int | None
        try:
            size = os.stat(state.log_file).st_size
        except OSError:
            size = None  # Asterisk may be on another host, or nothing logged yet
        doc = state.to_json()
        doc.pop("history", None)
        doc.pop("version", None)
        if state.capture is not None:
            running = C.running(state.capture)
            doc["capture"].update(
                {"files": C.files(state.capture), "running": any(running.values())}
            )
        doc.update(
            {
                "on": state.status == "on",
                "state_file": str(self.store.path),
                "remaining_seconds": max(0, int(state.remaining(now).total_seconds())),
                "expired": state.expired(now),
                "log_size": size,
            }
        )
        return doc

    def _record(self, state: DebugState, reason: str) -> dict[str, Any]:
        return {
            "name": state.name,
            "log_file": state.log_file,
            "level": state.level,
            "since": state.since.isoformat(timespec="seconds"),
            "ended": self.clock().isoformat(timespec="seconds"),
            "reason": reason,
            "requested_by": {k: v for k, v in state.requested_by.items() if k != "extended_by"},
        }


# -- expiry enforcement for the daemon -------------------------------------------------------


class KnownTargets:
    """The Asterisks the expiry watcher may act on, each with its own AMI credentials.

    The watcher reads only these targets' state files (never every file in the folder), and
    a file whose recorded target differs from its name is refused (`StateStore.load`): a
    file can never send the daemon's secret, or any command, to an Asterisk it was not
    configured for.
    """

    def __init__(self, *configs: AmiConfig) -> None:
        self.by_target = {c.target: c for c in configs}

    def __call__(self, target: str) -> AmiConfig:
        try:
            return self.by_target[target]
        except KeyError:
            raise StateError(f"{target!r} is not a configured Asterisk target") from None

    def targets(self) -> list[str]:
        return sorted(self.by_target)


def credentials_from(*configs: AmiConfig) -> KnownTargets:
    """The daemon's own Asterisk (and any other configured one), each with its credentials."""
    return KnownTargets(*configs)


async def enforce_debug_expiry(
    credentials: KnownTargets,
    *,
    state_dir: Path | None = None,
    session_factory: SessionFactory = AmiSession,
    clock: Callable[[], datetime] = now_utc,
) -> list[OffResult]:
    """Turn off every expired (or half-toggled) debug session of the configured targets.

    Safe to call at daemon start-up and then periodically. Errors for one target are logged
    and do not stop the others. Returns what was turned off.
    """
    done: list[OffResult] = []
    for target in credentials.targets():
        store = StateStore.for_target(target, state_dir)
        try:
            state = store.load()
            if state is None:
                continue
            if state.status == "on" and not state.expired(clock()):
                continue
            service = DebugService(
                credentials(target), store=store, session_factory=session_factory, clock=clock
            )
            result = await service.expire()
        except (CallctlError, AmiError, OSError) as err:
            log.warning("debug expiry for %s failed: %s", target, getattr(err, "message", err))
            continue
        if result.action == "stopped":
            log.info("debug logging on %s turned off: %s", target, result.reason)
            done.append(result)
    return done


def next_expiry(credentials: KnownTargets, state_dir: Path | None = None) -> datetime | None:
    soonest: datetime | None = None
    for target in credentials.targets():
        try:
            state = StateStore.for_target(target, state_dir).load()
        except StateError:
            continue
        if state is not None and (soonest is None or state.expires < soonest):
            soonest = state.expires
    return soonest


@dataclass(eq=False, repr=False)  # equal only to itself; no fields in repr (credentials)
class DebugExpiryWatcher:
    """Keeps debug logging from outliving its expiry while the daemon runs.

    Usage in the daemon::

        watcher = DebugExpiryWatcher(credentials_from(resolve_config()))
        task = asyncio.create_task(watcher.run())   # checks at once, then keeps checking
        ...
        task.cancel()

    `run()` checks immediately (so a daemon started after an expiry turns debug off first
    thing), then sleeps until the sooner of the next expiry and `interval`, and repeats.
    It never raises except CancelledError.
    """

    credentials: KnownTargets
    _: KW_ONLY
    state_dir: Path | None = None
    interval: float = 15.0
    session_factory: SessionFactory = AmiSession
    clock: Callable[[], datetime] = now_utc
    turned_off: list[OffResult] = field(default_factory=list, init=False)

    async def check_once(self) -> list[OffResult]:
        results = await enforce_debug_expiry(
            self.credentials,
            state_dir=self.state_dir,
            session_factory=self.session_factory,
            clock=self.clock,
        )
        self.turned_off.extend(results)
        return results

    def _delay(self) -> float:
        nxt = next_expiry(self.credentials, self.state_dir)
        if nxt is None:
            return self.interval
        until = (nxt - self.clock()).total_seconds()
        return max(0.05, min(self.interval, until + 0.05))

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # keep the watcher alive; the next round retries
                log.exception("debug expiry check failed")
            await asyncio.sleep(self._delay())
