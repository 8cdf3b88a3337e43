"""Faults against a real sandbox: WebSocket drop, Asterisk restart, controller down; plus the
CLI (`callctl calls`, `callctl hangup`) against a running daemon and credential hygiene."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from callctl.asterisk.ari import EventStream
from callctl.cli import Console, main
from callctl.daemon.server import Daemon
from support import dispatch_rig
from support.daemon_rig import Rig, http_get, leftovers, make_rig, sipp_wait, wait_clean, wait_until
from support.dispatch_rig import answered_call, rig_daemon

pytestmark = pytest.mark.asterisk


rig = dispatch_rig.rig  # every test but the last runs in both dispatch modes


def drop_websocket(daemon: Daemon) -> None:
    """Cut the events connection's TCP under aiohttp, as a network failure would."""
    stream = daemon.stream
    assert stream is not None
    conn = stream._ws._conn
    assert conn is not None and conn.transport is not None
    conn.transport.abort()


def slow_reconnect(daemon: Daemon, delay: float) -> None:
    """Hold the next WebSocket connects back by `delay` s: Asterisk keeps running meanwhile
    and drops the app's events, which is what reconcile must make up for."""
    original: Callable[..., Awaitable[EventStream]] = daemon.ari.connect_events

    async def delayed(**kw: Any) -> EventStream:
        await asyncio.sleep(delay)
        return await original(**kw)

    daemon.ari.connect_events = delayed  # type: ignore[method-assign]


async def test_websocket_drop_mid_call_hangup_missed_is_reconciled(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        async with answered_call(rig, daemon, carrier_hangs_up_ms=1000) as (caller, carrier):
            slow_reconnect(daemon, 2.5)
            drop_websocket(daemon)
            await wait_until(lambda: not daemon.health()["ready"], 5, "unhealthy")
            # The carrier hangs up while nobody listens: Asterisk drops that event.
            assert (await sipp_wait(carrier, 20)).returncode == 0
            if rig.dispatch == "bridge":
                chans, _ = await leftovers(rig.sb)
                assert chans, "the caller's leg should still be up until reconcile"
            else:
                # Dial() hangs the caller up by itself, and AMI (still connected) says so.
                await wait_clean(rig.sb, 5)
                await wait_until(lambda: not daemon.router.calls, 5, "the call to end")
                assert not daemon.health()["ready"]  # still before the WebSocket is back
                assert daemon.metrics.calls.get(direction="outbound", outcome="answered") == 1
            await wait_until(lambda: daemon.health()["ready"], 15, "ready again")
            await wait_clean(rig.sb, 10)  # reconcile hung up the caller and the bridge
            caller.stop()
        assert not daemon.router.calls
        assert daemon.metrics.reconnects.get(interface="ari") == 1
        assert daemon.metrics.orphans.get(kind="call") == (1 if rig.dispatch == "bridge" else 0)


async def test_websocket_drop_mid_call_call_survives(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        async with answered_call(rig, daemon, stays_s=3) as (caller, carrier):
            drop_websocket(daemon)
            await wait_until(
                lambda: daemon.metrics.reconnects.get(interface="ari") == 1, 10, "reconnect"
            )
            assert len(daemon.router.calls) == 1  # nothing was lost: the call carries on
            result = await sipp_wait(caller)
            assert result.successful == 1, result.log  # the caller's BYE reached the carrier
            assert (await sipp_wait(carrier)).returncode == 0
        await wait_clean(rig.sb)
        assert not daemon.router.calls


async def test_asterisk_restart_mid_call_leaves_no_state(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        async with answered_call(rig, daemon, stays_s=60) as (caller, _):
            await asyncio.to_thread(rig.sb.restart)
            await wait_until(lambda: daemon.health()["ready"], 30, "ready after restart")
            await wait_until(lambda: not daemon.router.calls, 10, "the lost call to be dropped")
            caller.stop()
        assert daemon.metrics.reconnects.get(interface="ari") >= 1
        await wait_clean(rig.sb)
        # and the restarted Asterisk takes new calls through the daemon
        with rig.carrier("carrier-a", "uas_ring_answer.xml", pause_ms=0) as carrier:
            again = await sipp_wait(rig.caller("5551230000", pause_ms=200).start())
            assert again.successful == 1, again.log
            assert (await sipp_wait(carrier)).returncode == 0


async def test_call_while_controller_is_down_gets_the_fallback(rig: Rig) -> None:
    start = time.monotonic()
    sipp = rig.caller("5551230000").start()
    caller = await sipp_wait(sipp, 20)
    assert caller.successful == 0
    assert time.monotonic() - start < 5  # refused, never left ringing
    errors = (sipp.workdir / "uac_call.errors.log").read_text()
    assert "SIP/2.0 503" in errors and "Q.850;cause=34" in errors
    log = (rig.sb.log_dir / "full").read_text(errors="replace")
    assert "callctl: controller not registered - refusing PJSIP/jingle-" in log
    assert "to 5551230000 with cause 34" in log
    await wait_clean(rig.sb)


def run_cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), Console(stdout=out, stderr=err))
    return status, out.getvalue() + err.getvalue()


async def test_cli_lists_and_hangs_up_calls(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        api = f"127.0.0.1:{daemon.port}"
        async with answered_call(rig, daemon) as (caller, carrier):
            status, text = await asyncio.to_thread(run_cli, "calls", "--json", "--api", api)
            assert status == 0, text
            (call,) = json.loads(text)["calls"]
            assert call["state"] == "answered" and call["trunk"] == "carrier-a"
            assert call["number"] == "+15551230000" and call["age_s"] >= 0
            assert [leg["state"] for leg in call["legs"]] == ["up"]
            status, text = await asyncio.to_thread(run_cli, "calls", "--api", api)
            assert call["id"] in text and "carrier-a" in text
            status, text = await asyncio.to_thread(run_cli, "hangup", call["id"], "--api", api)
            assert status == 0, text
            assert (await sipp_wait(carrier, 10)).returncode == 0  # the carrier got a BYE
            await wait_clean(rig.sb, 5)
            caller.stop()
        status, text = await asyncio.to_thread(run_cli, "hangup", call["id"], "--api", api)
        assert status == 2 and "no active call" in text


async def test_credentials_never_in_logs_or_endpoints(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with rig_daemon(rig) as daemon:
        with rig.carrier("carrier-a", "uas_ring_answer.xml", pause_ms=0):
            await sipp_wait(rig.caller("5551230000", pause_ms=200).start())
        drop_websocket(daemon)
        await wait_until(
            lambda: daemon.metrics.reconnects.get(interface="ari") == 1, 10, "reconnect"
        )
        texts = [caplog.text, repr(daemon.config), repr(daemon.ari)]
        for path in ("/metrics", "/health", "/calls"):
            texts.append((await http_get(daemon, path))[1])
    for secret in (rig.sb.ari_password, rig.sb.ami_secret):
        assert all(secret not in text for text in texts)
    assert "event=call.end" in caplog.text  # the logs did capture the call


async def test_ami_drop_mid_call_recovers_and_leaves_the_call_alone(rig: Rig) -> None:
    async with rig_daemon(rig) as daemon:
        daemon.ami.ping_interval = 0.2
        async with answered_call(rig, daemon, stays_s=3) as (caller, carrier):
            session = daemon.ami.session
            assert session is not None and session._protocol is not None
            session._protocol.transport.abort()  # the AMI TCP connection drops
            await wait_until(lambda: not daemon.health()["ready"], 5, "unhealthy")
            await wait_until(lambda: daemon.health()["ready"], 15, "AMI back")
            assert daemon.metrics.reconnects.get(interface="ami") == 1
            assert len(daemon.router.calls) == 1  # calls do not depend on AMI
            assert (await sipp_wait(caller)).successful == 1
            assert (await sipp_wait(carrier)).returncode == 0
        await wait_clean(rig.sb)


@pytest.fixture
def fast_rig(sandbox_factory, tmp_path: Path) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(sandbox_factory, tmp_path, dispatch="dialplan")


async def test_fast_path_hangup_during_an_ami_gap_is_reconciled(fast_rig: Rig) -> None:
    """Fast path only: the call's end arrives over AMI. Cut AMI, hold its reconnect back while
    the carrier hangs up (Dial() ends both sides, the Hangup event is lost), and the AMI
    reconnect's reconcile must still end the call."""
    rig = fast_rig
    async with rig_daemon(rig) as daemon:
        daemon.ami.ping_interval = 0.2
        async with answered_call(rig, daemon, carrier_hangs_up_ms=1500) as (caller, carrier):
            original = daemon.ami._connect

            async def delayed() -> Any:
                await asyncio.sleep(3.0)
                return await original()

            daemon.ami._connect = delayed  # type: ignore[method-assign]
            session = daemon.ami.session
            assert session is not None and session._protocol is not None
            session._protocol.transport.abort()
            await wait_until(lambda: not daemon.ami.connected, 5, "AMI down")
            assert (await sipp_wait(carrier, 20)).returncode == 0  # the carrier hung up
            await wait_clean(rig.sb, 5)  # Dial() ended the caller by itself
            assert len(daemon.router.calls) == 1  # ...but nobody told the daemon yet
            await wait_until(lambda: daemon.ami.connected, 15, "AMI back")
            await wait_until(lambda: not daemon.router.calls, 5, "reconcile to end the call")
            caller.stop()
        assert daemon.metrics.reconnects.get(interface="ami") == 1
        assert daemon.metrics.orphans.get(kind="call") == 1
