"""DebugService over the real AMI wire layer against a simulated Asterisk (no real Asterisk)."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from callctl.asterisk.ami import AmiConfig
from callctl.cli import Console, main
from callctl.debug._model import CHANNEL_LEVELS
from callctl.debug.service import DebugExpiryWatcher, DebugService, credentials_from
from callctl.errors import AsteriskUnavailable, UsageError
from support.fake_ami import LOG_DIR


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def svc(server, tmp_path, clock, secret=None) -> DebugService:
    return DebugService(server.config(secret), state_dir=tmp_path, clock=clock)


async def test_on_then_off_restores_everything(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        res = await s.on(name="dbg", duration=timedelta(minutes=15), level=5)
        assert res.action == "started"
        assert (ast.core_debug, ast.pj_level, ast.pjsip_logger) == (5, 5, True)
        assert ast.channels[0] == (f"{LOG_DIR}/dbg", "File", True)
        assert res.state.log_file == f"{LOG_DIR}/dbg"
        assert f"logger add channel dbg {CHANNEL_LEVELS}" in ast.history
        st = s.status()
        assert st["on"] and st["expires"] == "2026-11-23T01:15:00.000+00:00" and st["level"] == 5
        assert st["requested_by"]["pid"] > 0 and "@" not in st["requested_by"]["user"]
        off = await s.off()
        assert off.action == "stopped"
    changes = [c for c in ast.history if " set " in c or " remove " in c]
    assert changes[-4:] == [
        "pjsip set logger off",
        "pjproject set log level default",
        "core set debug off",
        "logger remove channel dbg",
    ]
    assert not s.status()["on"] and s.status()["last"]["reason"] == "requested"


async def test_non_default_prior_state_is_restored_exactly(server, tmp_path, clock):
    ast = server.ast
    ast.pj_level, ast.core_debug = 3, 2
    ast.pjsip_debug_setting, ast.pjsip_logger = "yes", True
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg")
        assert (ast.core_debug, ast.pj_level) == (5, 5)
        assert "pjsip set logger on" not in ast.history  # it was already on: left alone
        await s.off()
    assert "pjproject set log level 3" in ast.history and "core set debug 2" in ast.history
    assert "pjsip set logger off" not in ast.history


async def test_operator_says_pjsip_logger_was_on(server, tmp_path, clock):
    server.ast.pjsip_logger = True  # set on the CLI: Asterisk cannot report it
    s = svc(server, tmp_path, clock)
    await s.on(pjsip_logger_was="on")
    await s.off()
    assert server.ast.pjsip_logger is True


async def test_on_twice_extends_without_stacking(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg", duration=timedelta(minutes=15))
        clock.now += timedelta(minutes=10)
        res = await s.on(name="other", duration=timedelta(minutes=15))
        assert res.action == "extended" and any("ignored" in w for w in res.warnings)
        assert res.state.expires == clock.now + timedelta(minutes=15)
        assert sum(1 for n, _, d in ast.channels if d) == 1
        assert ast.history.count(f"logger add channel dbg {CHANNEL_LEVELS}") == 1
        assert res.state.prior.core_debug == 0  # the original prior, not level 5
        await s.off()


async def test_off_with_nothing_on_is_a_noop_without_asterisk(tmp_path, clock):
    s = DebugService(AmiConfig("127.0.0.1", 1, "u", "p"), state_dir=tmp_path, clock=clock)
    res = await s.off()
    assert res.action == "noop"


@pytest.mark.parametrize(
    "failing", ["core set debug 5", "pjproject set log level 5", "pjsip set logger on"]
)
async def test_rejected_mid_sequence_rolls_back(server, tmp_path, clock, failing):
    ast = server.ast
    with ast.left_as_found():
        server.fail[failing] = "reject"
        s = svc(server, tmp_path, clock)
        with pytest.raises(AsteriskUnavailable, match="rolled back") as info:
            await s.on(name="dbg")
        assert failing in info.value.message
    assert not s.status()["on"] and s.status()["last"]["reason"] == "rolled back"


async def test_dropped_connection_mid_sequence_rolls_back_on_new_connection(
    server, tmp_path, clock
):
    ast = server.ast
    with ast.left_as_found():
        server.drop_after_run.add("pjproject set log level 5")  # it ran, the reply was lost
        s = svc(server, tmp_path, clock)
        with pytest.raises(AsteriskUnavailable, match="rolled back"):
            await s.on(name="dbg")
    assert server.received.count("pjproject set log level 5") == 1  # never re-sent
    assert server.logins == 2


async def test_login_refused_changes_nothing(server, tmp_path, clock):
    with server.ast.left_as_found():
        s = svc(server, tmp_path, clock, secret="bad")
        with pytest.raises(AsteriskUnavailable, match="refused"):
            await s.on()
    assert server.received == []
    assert not s.status()["on"]


async def test_asterisk_down_is_clear(tmp_path, clock):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    s = DebugService(
        AmiConfig("127.0.0.1", port, "u", "p", timeout=1), state_dir=tmp_path, clock=clock
    )
    with pytest.raises(AsteriskUnavailable, match="cannot connect"):
        await s.on()
    assert not s.status()["on"]


async def test_foreign_channel_with_same_name_is_refused(server, tmp_path, clock):
    server.ast.channels.append((f"{LOG_DIR}/dbg", "File", False))
    with server.ast.left_as_found(), pytest.raises(UsageError, match="did not add"):
        await svc(server, tmp_path, clock).on(name="dbg")


async def test_interrupted_session_is_undone_by_off(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg")
        doc = json.loads(s.store.path.read_text())
        doc["status"] = "turning_on"  # as if the process died before it finished
        s.store.path.write_text(json.dumps(doc))
        await s.off()


async def test_vanished_channel_restores_prior_then_starts_over(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg")
        ast.channels.pop(0)  # someone ran `logger remove channel dbg`; levels still at 5
        res = await s.on(name="dbg")
        assert res.action == "started" and any("gone" in w for w in res.warnings)
        assert res.state.prior.core_debug == 0 and res.state.prior.pjproject_level == 2
        await s.off()


async def test_expire_and_watcher(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg", duration=timedelta(seconds=90))
        assert (await s.expire()).action == "noop"
        watcher = DebugExpiryWatcher(
            credentials_from(s.ami), state_dir=tmp_path, clock=clock, interval=0.05
        )
        task = asyncio.create_task(watcher.run())
        await asyncio.sleep(0.2)
        assert ast.core_debug == 5 and watcher.turned_off == []
        clock.now += timedelta(seconds=91)
        for _ in range(100):
            if watcher.turned_off:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [r.reason for r in watcher.turned_off] == ["expired"]
    assert not s.status()["on"]


async def test_watcher_survives_ami_failure_and_retries(server, tmp_path, clock):
    s = svc(server, tmp_path, clock)
    await s.on(name="dbg", duration=timedelta(seconds=90))
    clock.now += timedelta(hours=1)
    refused = AmiConfig("127.0.0.1", 1, "callctl", "wrong", timeout=1)
    watcher = DebugExpiryWatcher(credentials_from(refused), state_dir=tmp_path, clock=clock)
    assert await watcher.check_once() == []  # logged, not raised
    assert s.store.load() is not None  # still recorded: the next round retries
    watcher.credentials = credentials_from(s.ami)
    assert len(await watcher.check_once()) == 1
    assert server.ast.core_debug == 0


def run_cli(argv, env_port, tmp_path, monkeypatch):
    import io

    monkeypatch.setenv("CALLCTL_AMI_PORT", str(env_port))
    monkeypatch.setenv("CALLCTL_AMI_USER", "callctl")
    monkeypatch.setenv("CALLCTL_AMI_SECRET", "s3cret")
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    rc = main(argv, Console(stdout=out, stderr=err))
    return rc, out.getvalue(), err.getvalue()


def test_cli_round_trip(ami, tmp_path, monkeypatch):
    """The synchronous CLI, against conftest.py's simulated Asterisk on a loop of its own."""
    with ami.ast.left_as_found():
        rc, out, err = run_cli(["debug", "on", "--for", "90s"], ami.port, tmp_path, monkeypatch)
        assert rc == 0, err
        assert f"log file: {LOG_DIR}/callctl-debug" in out and "(1m30s)" in out
        rc, out, _ = run_cli(["debug", "status", "--json"], ami.port, tmp_path, monkeypatch)
        doc = json.loads(out)
        assert doc["kind"] == "debug.status" and doc["on"] and doc["version"] == "1"
        rc, out, _ = run_cli(["debug", "off"], ami.port, tmp_path, monkeypatch)
        assert rc == 0 and "prior state restored" in out
        rc, out, _ = run_cli(["debug", "off"], ami.port, tmp_path, monkeypatch)
        assert rc == 0 and "not on; nothing to do" in out
        rc, _, err = run_cli(["debug", "on", "--for", "5h"], ami.port, tmp_path, monkeypatch)
        assert rc == 2 and "longer than the maximum" in err


def test_cli_ami_down_exit_status(tmp_path, monkeypatch):
    rc, _, err = run_cli(["debug", "on"], 1, tmp_path, monkeypatch)
    assert rc == 6 and "cannot connect to AMI" in err


async def test_without_res_pjsip_the_logger_step_is_skipped(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        server.fail["pjsip show settings"] = "reject"
        s = svc(server, tmp_path, clock)
        res = await s.on(name="dbg")
        assert [st.key for st in res.state.steps] == ["channel", "core_debug", "pjproject"]
        assert "pjsip set logger on" not in ast.history
        await s.off()


async def test_unexpected_answer_after_the_command_ran_is_undone_too(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        server.answer_instead["core set debug 5"] = ["Core debug is still 3."]  # ran, odd reply
        s = svc(server, tmp_path, clock)
        with pytest.raises(AsteriskUnavailable, match="rolled back: channel, core_debug"):
            await s.on(name="dbg")


async def test_late_reply_is_treated_as_maybe_run_and_undone(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        server.delay_after_run["pjproject set log level 5"] = 3.0  # longer than the 2 s timeout
        s = svc(server, tmp_path, clock)
        with pytest.raises(AsteriskUnavailable, match="rolled back"):
            await s.on(name="dbg")
        await asyncio.sleep(1.5)  # let the late reply arrive on the old connection
    assert server.received.count("pjproject set log level 5") == 1


async def test_off_interrupted_keeps_what_is_left_and_says_so(server, tmp_path, clock):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg")
        server.fail["core set debug off"] = "reject"
        with pytest.raises(AsteriskUnavailable) as info:
            await s.off()
        assert "still applied: channel, core_debug" in (info.value.hint or "")
        left = s.store.load()
        assert left is not None and left.applied == ["channel", "core_debug"]
        await s.off()


async def test_a_refused_step_is_not_undone(server, tmp_path, clock):
    """Refused: it did not run, and its undo may be refused too (module not loaded)."""
    ast = server.ast
    with ast.left_as_found():
        server.fail["pjsip set logger on"] = "reject"
        server.fail["pjsip set logger off"] = "reject"
        s = svc(server, tmp_path, clock)
        with pytest.raises(
            AsteriskUnavailable, match="rolled back: channel, core_debug, pjproject;"
        ):
            await s.on(name="dbg")
    assert "pjsip set logger off" not in server.received


async def test_extend_with_another_level_applies_it_and_keeps_the_prior(server, tmp_path, clock):
    ast = server.ast
    ast.core_debug = 4  # prior core debug equals the level asked for later
    with ast.left_as_found():
        s = svc(server, tmp_path, clock)
        await s.on(name="dbg", level=5)
        res = await s.on(name="dbg", level=4)
        assert res.action == "extended" and res.state.level == 4
        assert (ast.core_debug, ast.pj_level) == (4, 4)
        await s.off()
