"""callctl.asterisk.ami against a fake AMI server on loopback (real panoramisk wire layer)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from callctl.asterisk.ami import (
    AmiCommandRejected,
    AmiConfig,
    AmiConnectionLost,
    AmiSession,
    normalise_output,
)
from callctl.errors import AsteriskUnavailable
from support.fake_ami import FakeAmiServer, FakeAsterisk


@pytest.fixture
async def server():
    srv = await FakeAmiServer(FakeAsterisk()).start()
    yield srv
    await srv.stop()


def cfg(port: int, secret: str = "s3cret") -> AmiConfig:
    return AmiConfig("127.0.0.1", port, "callctl", secret, timeout=2.0)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_command_output_is_a_list_of_lines(server):
    async with AmiSession(cfg(server.port)) as ami:
        one = await ami.command("pjproject show log level")
        many = await ami.command("core show settings")
        empty = await ami.command("logger add channel x notice")
    assert one.output == ["pjproject log level is 2. (default)"]
    assert any("Debug level:" in line for line in many.output) and len(many.output) > 5
    assert empty.output == []


def test_normalise_output_shapes():
    assert normalise_output(None) == []
    assert normalise_output("one") == ["one"]
    assert normalise_output(["a", "b"]) == ["a", "b"]


async def test_connection_refused_is_clear_and_leaves_nothing_running():
    port = free_port()
    before = set(asyncio.all_tasks())
    with pytest.raises(AsteriskUnavailable, match=f"cannot connect to AMI at 127.0.0.1:{port}"):
        await AmiSession(cfg(port)).connect()
    await asyncio.sleep(0.05)
    assert set(asyncio.all_tasks()) - before == set()


async def test_login_refused(server):
    with pytest.raises(AsteriskUnavailable, match="login as 'callctl' refused") as info:
        await AmiSession(cfg(server.port, secret="wrong")).connect()
    assert "wrong" not in str(info.value.message) and "wrong" not in str(info.value.hint)


async def test_command_rejected(server):
    server.fail["core set debug 5"] = "reject"
    async with AmiSession(cfg(server.port)) as ami:
        with pytest.raises(AmiCommandRejected, match="Permission denied"):
            await ami.command("core set debug 5")
    assert server.ast.core_debug == 0


async def test_lost_connection_fails_pending_and_never_resends(server):
    server.drop_after_run.add("core set debug 5")
    ami = AmiSession(cfg(server.port))
    await ami.connect()
    with pytest.raises(AmiConnectionLost, match="may or may not have run"):
        await ami.command("core set debug 5")
    with pytest.raises(AmiConnectionLost):
        await ami.command("core show settings")
    await asyncio.sleep(2.5)  # longer than panoramisk's reconnect_timeout (2 s)
    await ami.close()
    assert server.received.count("core set debug 5") == 1
    assert server.logins == 1


async def test_a_cancel_that_comes_with_the_reply_is_not_lost(server):
    """Python 3.11's wait_for returns the answer and drops a cancel that arrives in the same
    loop turn; the daemon's AMI ping loop then ran on after shutdown cancelled it (CI hung)."""
    loop = asyncio.get_running_loop()

    class Reply:
        success = True

    async with AmiSession(cfg(server.port)) as ami:
        assert ami._protocol is not None
        real = ami._protocol.send

        def send(action):  # type: ignore[no-untyped-def]
            answer = loop.create_future()

            def reply_and_cancel() -> None:
                answer.set_result(Reply())
                pinging.cancel()

            loop.call_soon(reply_and_cancel)
            return answer

        ami._protocol.send = send
        pinging = asyncio.create_task(ami.ping())
        try:
            with pytest.raises(asyncio.CancelledError):
                await pinging
        finally:
            ami._protocol.send = real
