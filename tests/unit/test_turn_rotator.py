"""callctl.turn.rotator: the include on disk, the AMI reload, the daemon's retry loop (the
AMI session is a stand-in here; tests/functional/test_turn_asterisk.py uses the real one)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from types import TracebackType

import pytest
from callctl.asterisk.ami import AmiCommandRejected, AmiConfig, CommandResult
from callctl.errors import AsteriskUnavailable, UsageError
from callctl.turn.include import parse
from callctl.turn.rest import password_for
from callctl.turn.rotator import RELOAD_COMMAND, TurnRotator
from callctl.turn.settings import TurnSettings

OK = ["Module 'res_rtp_asterisk.so' reloaded successfully."]


class Asterisk:
    """Answers each AMI session's commands from `replies` (a list: output lines or an error)."""

    def __init__(self, *replies: list[str] | Exception) -> None:
        self.replies = list(replies)
        self.commands: list[str] = []

    def __call__(self, config: AmiConfig) -> Asterisk:
        return self

    async def __aenter__(self) -> Asterisk:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def command(self, command: str) -> CommandResult:
        self.commands.append(command)
        reply = self.replies.pop(0) if self.replies else OK
        if isinstance(reply, Exception):
            raise reply
        return CommandResult(command, True, reply)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.rounds = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.rounds -= 1
        if self.rounds <= 0:
            raise asyncio.CancelledError


def _setup(tmp_path: Path, ttl: int = 600) -> TurnSettings:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    return TurnSettings("192.0.2.10", 3478, secret, tmp_path / "turn" / "rtp-turn.conf", ttl=ttl)


def _rotator(settings: TurnSettings, asterisk: Asterisk, clock: Clock) -> TurnRotator:
    return TurnRotator(
        settings, AmiConfig(), session_factory=asterisk, clock=clock, sleep=clock.sleep
    )


def test_ensure_writes_a_private_include_and_keeps_it_until_due(tmp_path: Path) -> None:
    settings, clock = _setup(tmp_path), Clock(1000)
    rotator = _rotator(settings, Asterisk(), clock)
    first = rotator.ensure()
    assert first.issued and first.reason == "none written yet"
    assert first.credential.username == "1600:asterisk"
    assert first.credential.password == password_for("s3cret", "1600:asterisk")
    assert parse(settings.include.read_text()) == first.credential
    assert stat.S_IMODE(settings.include.stat().st_mode) == 0o640
    assert stat.S_IMODE(settings.include.parent.stat().st_mode) == 0o700
    clock.now = 1299
    assert not rotator.ensure().issued
    clock.now = 1300
    again = rotator.ensure()
    assert again.issued and again.credential.username == "1900:asterisk"
    assert rotator.ensure(force=True).reason == "forced"


def test_a_secret_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = _setup(tmp_path)
    settings.secret_file.chmod(0o644)
    with pytest.raises(UsageError, match="readable by others"):
        _rotator(settings, Asterisk(), Clock(0)).ensure()
    assert not settings.include.exists()


async def test_reload_is_res_rtp_asterisk_and_checks_what_asterisk_said(tmp_path: Path) -> None:
    asterisk = Asterisk(OK, ["The module is not loaded."])
    rotator = _rotator(_setup(tmp_path), asterisk, Clock(0))
    await rotator.reload()
    with pytest.raises(AsteriskUnavailable, match="did not reload"):
        await rotator.reload()
    assert asterisk.commands == [RELOAD_COMMAND, RELOAD_COMMAND]


async def test_the_loop_reloads_at_start_then_sleeps_until_half_the_lifetime(
    tmp_path: Path,
) -> None:
    settings, clock, asterisk = _setup(tmp_path), Clock(1000), Asterisk()
    rotator = _rotator(settings, asterisk, clock)
    rotator.ensure()  # written earlier (`callctl turn rotate --no-reload`): kept, but reloaded
    clock.rounds = 3
    with pytest.raises(asyncio.CancelledError):
        await rotator.run()
    # 1000: reload; sleep 60 (MAX_SLEEP) -> 1060 ... due at 1300: renewed then.
    assert clock.sleeps[:2] == [60.0, 60.0]
    assert asterisk.commands == [RELOAD_COMMAND]
    clock.rounds = 5
    with pytest.raises(asyncio.CancelledError):
        await rotator.run()
    assert rotator.applied is not None and rotator.applied.username == "1900:asterisk"
    assert rotator.status() == {"username": "1900:asterisk", "expires": 1900, "failures": 0}


async def test_failures_are_logged_and_retried_with_backoff_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, clock = _setup(tmp_path), Clock(1000)
    lost = AmiCommandRejected(RELOAD_COMMAND, [], "Asterisk is shutting down")
    asterisk = Asterisk(lost, lost, OK)
    rotator = _rotator(settings, asterisk, clock)
    clock.rounds = 4
    with pytest.raises(asyncio.CancelledError):
        await rotator.run()
    # Written once; the reload is tried again after each failure, with growing waits.
    assert parse(settings.include.read_text()) is not None
    assert asterisk.commands == [RELOAD_COMMAND] * 3
    assert clock.sleeps[0] <= 0.5 <= clock.sleeps[1] <= 1.0
    assert rotator.applied is not None and rotator.failures == 0
    assert sum("turn.rotation_failed" in r.getMessage() for r in caplog.records) == 2


async def test_an_unreadable_secret_is_retried_until_it_is_fixed(tmp_path: Path) -> None:
    settings, clock = _setup(tmp_path), Clock(1000)
    settings.secret_file.chmod(0o640)
    rotator = _rotator(settings, Asterisk(), clock)
    clock.rounds = 2
    with pytest.raises(asyncio.CancelledError):
        await rotator.run()
    assert rotator.status() == {"username": None, "expires": None, "failures": 2}
    settings.secret_file.chmod(0o600)
    clock.rounds = 1
    with pytest.raises(asyncio.CancelledError):
        await rotator.run()
    assert rotator.applied is not None and rotator.failures == 0


def test_a_rotator_without_ami_only_writes(tmp_path: Path) -> None:
    rotator = TurnRotator(_setup(tmp_path), None, clock=lambda: 0.0)
    assert rotator.ensure().issued
    with pytest.raises(UsageError, match="no AMI"):
        asyncio.run(rotator.reload())
