"""Forged debug state files (issue 16 item 1): what the audit did, against the real AMI wire
layer and a simulated Asterisk. A file in the state folder may name what to undo, never what
to run, and never another Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from callctl.debug.service import DebugExpiryWatcher, DebugService, credentials_from
from callctl.errors import StateError
from support.fake_ami import BANNER, FakeAmiServer, LoopbackServer, prior_fields

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class Listener(LoopbackServer):
    """A forger's "Asterisk": records every connection and whatever is sent to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = b""

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        w.write(BANNER.encode())
        with contextlib.suppress(TimeoutError, ConnectionError):
            self.received += await asyncio.wait_for(r.read(4096), 2)
        w.close()


@pytest.fixture
def real(server: FakeAmiServer) -> FakeAmiServer:
    """The Asterisk the state folder is for (conftest.py's simulated one)."""
    return server


@pytest.fixture
async def forger():
    lst = await Listener().start()
    yield lst
    await lst.stop()


def forged_doc(target: str, **over: object) -> dict[str, object]:
    """A state file as version 1 wrote it (commands included), expired long ago."""
    doc: dict[str, object] = {
        "version": 1,
        "status": "on",
        "target": target,
        "name": "dbg",
        "level": 5,
        "log_file": "/tmp/fake-ast/log/dbg",
        "prior": prior_fields(),
        "steps": [
            {"key": "channel", "apply": [], "undo": ["core stop now"]},
            {"key": "core_debug", "apply": [], "undo": ["module unload res_pjsip.so"]},
        ],
        "applied": ["channel", "core_debug"],
        "since": (T0 - timedelta(hours=2)).isoformat(),
        "expires": (T0 - timedelta(hours=1)).isoformat(),
        "requested_by": {"user": "mallory"},
        "history": [],
    }
    doc.update(over)
    return doc


def plant(state_dir: Path, file_target: str, doc: dict[str, object]) -> Path:
    state_dir.mkdir(mode=0o700, exist_ok=True)
    path = state_dir / (file_target.replace(":", "_") + ".json")
    path.write_text(json.dumps(doc))
    return path


async def watch_once(real: FakeAmiServer, state_dir: Path) -> list[object]:
    watcher = DebugExpiryWatcher(
        credentials_from(real.config()), state_dir=state_dir, clock=lambda: T0
    )
    return list(await watcher.check_once())


async def test_a_file_for_another_target_never_reaches_it(real, forger, tmp_path):
    """The audit: the watcher logged in to the forger's listener with the daemon's secret."""
    target = f"127.0.0.1:{forger.port}"
    plant(tmp_path, target, forged_doc(target))
    assert await watch_once(real, tmp_path) == []
    await asyncio.sleep(0.2)
    assert forger.connections == 0 and b"s3cret" not in forger.received
    assert real.received == []


async def test_a_file_named_for_the_real_target_naming_another_is_refused(real, forger, tmp_path):
    plant(tmp_path, f"127.0.0.1:{real.port}", forged_doc(f"127.0.0.1:{forger.port}"))
    assert await watch_once(real, tmp_path) == []
    await asyncio.sleep(0.2)
    assert forger.connections == 0 and real.received == []


async def test_commands_in_a_file_are_never_run(real, tmp_path):
    """Its undo steps come from the step model: only `logger remove channel` and
    `core set debug off` (the recorded prior) are sent, never the file's commands."""
    real.ast.core_debug = 5
    target = f"127.0.0.1:{real.port}"
    plant(tmp_path, target, forged_doc(target))
    results = await watch_once(real, tmp_path)
    assert len(results) == 1
    sent = [c for c in real.received if not c.startswith(("logger show", "core show", "pjp"))]
    assert sent == ["core set debug off", "logger remove channel dbg"]
    assert "core stop now" not in real.received
    assert "module unload res_pjsip.so" not in real.received


@pytest.mark.parametrize(
    "change",
    [
        {"applied": ["shell"], "steps": [{"key": "shell", "apply": [], "undo": ["core stop now"]}]},
        {"version": 2, "planned": ["channel", "reboot"], "applied": ["reboot"]},
        {"name": "dbg\r\nAction: Command\r\nCommand: core stop now"},
        {"name": "dbg now"},
        {"level": 99},
        {
            "version": 2,
            "planned": ["channel", "categories"],
            "applied": ["channel", "categories"],
            "categories": ["ice\r\nAction: Command\r\nCommand: core stop now"],
        },
        {
            "version": 2,
            "planned": ["channel", "categories"],
            "applied": ["channel", "categories"],
            "categories": ["ice", "rtp now"],
        },
        {"version": 2, "planned": ["channel", "categories"], "applied": ["channel"]},
    ],
    ids=[
        "unknown-step-v1",
        "unknown-step-v2",
        "crlf-in-name",
        "space-in-name",
        "level",
        "crlf-in-category",
        "space-in-category",
        "categories-step-without-categories",
    ],
)
async def test_unknown_steps_and_bad_values_are_refused(real, tmp_path, change):
    target = f"127.0.0.1:{real.port}"
    path = plant(tmp_path, target, forged_doc(target, **change))
    assert await watch_once(real, tmp_path) == []
    assert real.received == []
    assert path.exists()  # left for a person to inspect
    svc = DebugService(real.config(), state_dir=tmp_path, clock=lambda: T0)
    with pytest.raises(StateError):
        await svc.off()
    assert real.received == []


@pytest.mark.parametrize(
    "prior",
    [
        {"pjsip_logger": "host:10.0.0.1\r\nAction: Command\r\nCommand: core stop now"},
        {"pjsip_logger": "host:10.0.0.1 ; core stop now"},
        {"pjsip_logger": "whatever"},
        {"core_debug": -1},
        {"pjproject_level": 7},
        {"categories": ["dtls:3\nAction: Logoff"], "categories_source": "operator"},
    ],
)
async def test_prior_values_that_would_reach_a_command_are_checked(real, tmp_path, prior):
    target = f"127.0.0.1:{real.port}"
    doc = forged_doc(target)
    doc["prior"] = {**doc["prior"], **prior}  # type: ignore[dict-item]
    plant(tmp_path, target, doc)
    assert await watch_once(real, tmp_path) == []
    assert real.received == []


async def test_a_state_folder_others_can_write_is_refused(real, tmp_path):
    target = f"127.0.0.1:{real.port}"
    plant(tmp_path / "st", target, forged_doc(target))
    os.chmod(tmp_path / "st", 0o777)
    assert await watch_once(real, tmp_path / "st") == []
    assert real.received == []
    svc = DebugService(real.config(), state_dir=tmp_path / "st")
    with pytest.raises(StateError, match="writable by other users"):
        await svc.on()
    assert real.received == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
async def test_a_state_folder_owned_by_someone_else_is_refused(real, tmp_path):
    target = f"127.0.0.1:{real.port}"
    plant(tmp_path / "st", target, forged_doc(target))
    os.chown(tmp_path / "st", 65534, 65534)  # nobody: tmp_path lies under world-writable /tmp
    assert await watch_once(real, tmp_path / "st") == []
    assert real.received == []
    svc = DebugService(real.config(), state_dir=tmp_path / "st")
    with pytest.raises(StateError, match="belongs to uid 65534"):
        await svc.on()


async def test_a_symlinked_state_file_is_refused(real, tmp_path):
    target = f"127.0.0.1:{real.port}"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(forged_doc(target)))
    (tmp_path / "st").mkdir(mode=0o700)
    (tmp_path / "st" / f"127.0.0.1_{real.port}.json").symlink_to(elsewhere)
    assert await watch_once(real, tmp_path / "st") == []
    assert real.received == []
