"""The ARI client against a real sandbox Asterisk: events, REST, errors, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

import pytest
from callctl.asterisk.ari import (
    AriAuthError,
    AriBadRequest,
    AriClient,
    AriCredentials,
    AriDisconnected,
    AriNotFound,
    AriUnavailable,
    Event,
    EventStream,
)
from callctl.asterisk.reconnect import keep_connected, retry_policy
from callctl.sandbox.manager import Sandbox, free_port

pytestmark = pytest.mark.asterisk


def _retryable(err: BaseException) -> bool:
    return isinstance(err, AriUnavailable) and not isinstance(err, AriAuthError)


def creds(sb: Sandbox, **overrides: str) -> AriCredentials:
    values = {"url": sb.ari_url, "user": sb.ari_user, "password": sb.ari_password}
    values.update(overrides)
    return AriCredentials(values["url"], values["user"], values["password"])


async def wait_for(
    stream: EventStream, match: Callable[[Event], bool], timeout: float = 10.0
) -> Event:
    async def scan() -> Event:
        async for event in stream:
            if match(event):
                return event
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(scan(), timeout)


async def wait_for_all(
    stream: EventStream, wanted: dict[str, Callable[[Event], bool]], timeout: float = 10.0
) -> dict[str, Event]:
    """The first event matching each predicate, in whatever order they come."""
    found: dict[str, Event] = {}

    async def scan() -> dict[str, Event]:
        async for event in stream:
            for name, match in wanted.items():
                if name not in found and match(event):
                    found[name] = event
            if len(found) == len(wanted):
                return found
        raise AssertionError(f"event stream ended; found only {sorted(found)}")

    return await asyncio.wait_for(scan(), timeout)


def uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def test_events_register_the_app_and_deliver_stasis_start(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AriClient(creds(sandbox)) as ari:
        info = await ari.asterisk_info()
        assert "system" in info or "build" in info
        # No WebSocket yet: Asterisk does not know the app.
        assert not await ari.is_registered()
        stream = await ari.connect_events()
        try:
            # connect_events() returned, so the app is registered already (no polling here).
            app = await ari.application()
            assert app["name"] == "callctl"
            assert await ari.is_registered()

            # Local/...;1 is ours (answered -> our app); ;2 runs the repo dialplan
            # ([from-trunk] -> Stasis(callctl,from-trunk,${EXTEN})).
            ours, other = uid("t1"), uid("t2")
            chan = await ari.originate(
                "Local/+15550104477@from-trunk",
                app_args=["outbound", "leg"],
                channel_id=ours,
                other_channel_id=other,
                timeout=10,
            )
            assert chan["id"] == ours
            start2 = await wait_for(
                stream, lambda e: e.type == "StasisStart" and e.channel_id == other
            )
            assert start2.args == ["from-trunk", "+15550104477"]
            assert start2.application == "callctl"
            assert {c["id"] for c in await ari.channels()} >= {ours, other}

            # Ringing then early media on the caller's leg, as the daemon passes them back.
            await ari.ring(other)
            await ari.progress(other)
            await ari.answer(other)
            start1 = await wait_for(
                stream, lambda e: e.type == "StasisStart" and e.channel_id == ours
            )
            assert start1.args == ["outbound", "leg"]
            assert (await ari.channel(ours))["state"] == "Up"
            assert await ari.get_variable(other, "CHANNEL(state)") == "Up"

            with pytest.raises(AriBadRequest) as bad:
                await ari.hangup(other, reason="not-a-reason")
            assert (bad.value.http_status, bad.value.ari_message) == (
                400,
                "Invalid reason for hangup reason provided",
            )
            # The cause we hang up with reaches the event stream; the Local pair goes down.
            await ari.hangup(other, reason_code=17)
            seen = await wait_for_all(
                stream,
                {
                    "destroyed": lambda e: e.type == "ChannelDestroyed" and e.channel_id == other,
                    "ended": lambda e: e.type == "StasisEnd" and e.channel_id == ours,
                },
            )
            assert seen["destroyed"].data["cause"] == 17
        finally:
            await stream.close()
        # A closed stream ends iteration quietly.
        assert [e async for e in stream] == []
    assert sandbox.ari_password not in caplog.text


async def test_bridge_two_channels(sandbox: Sandbox) -> None:
    async with AriClient(creds(sandbox)) as ari:
        stream = await ari.connect_events()
        try:
            a, b = uid("a"), uid("b")
            await ari.originate("Local/+15550104400@from-trunk", channel_id=a, other_channel_id=b)
            await wait_for(stream, lambda e: e.type == "StasisStart" and e.channel_id == b)
            bridge = await ari.create_bridge(bridge_id=uid("br"), name="test")
            await ari.add_channels(bridge["id"], [b])
            entered = await wait_for(stream, lambda e: e.type == "ChannelEnteredBridge")
            assert entered.data["bridge"]["id"] == bridge["id"]
            assert b in (await ari.bridges())[0]["channels"]
            await ari.destroy_bridge(bridge["id"])
            # Asterisk tears a bridge down after answering the DELETE; until it is out of the
            # list, a second DELETE may still find it (409 "not in Stasis application", seen
            # in CI).
            for _ in range(100):
                if bridge["id"] not in {br["id"] for br in await ari.bridges()}:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the destroyed bridge is still listed after 100 looks")
            await ari.hangup(b)
            with pytest.raises(AriNotFound):
                await ari.destroy_bridge(bridge["id"])
        finally:
            await stream.close()


async def test_request_errors_map_to_typed_exceptions(sandbox: Sandbox) -> None:
    async with AriClient(creds(sandbox)) as ari:
        with pytest.raises(AriNotFound) as missing:
            await ari.channel("no-such-channel")
        assert missing.value.http_status == 404
        assert "Channel not found" in missing.value.message
        with pytest.raises(AriNotFound):
            await ari.hangup("no-such-channel", reason="busy")
        # A path-like ID stays one path segment: it cannot reach /channels itself.
        with pytest.raises(AriNotFound):
            await ari.channel("../channels")


async def test_wrong_password_is_an_auth_error_without_the_password(sandbox: Sandbox) -> None:
    wrong = "not-the-password-" + secrets.token_hex(4)
    async with AriClient(creds(sandbox, password=wrong)) as ari:
        with pytest.raises(AriAuthError) as rest:
            await ari.asterisk_info()
        with pytest.raises(AriAuthError) as ws:
            await ari.connect_events()
        # Bad credentials are not worth retrying.
        with pytest.raises(AriAuthError):
            async for attempt in retry_policy(_retryable, max_attempts=5, base=0.01):
                with attempt:
                    await ari.connect_events()
    for err in (rest.value, ws.value):
        assert wrong not in err.message and sandbox.ari_password not in err.message
        assert "callctl" in err.message  # names the user, which is safe and useful


async def test_unreachable_ari_is_unavailable() -> None:
    dead = AriCredentials(f"http://127.0.0.1:{free_port()}/ari", "callctl", "secret-x")
    async with AriClient(dead, request_timeout=3) as ari:
        with pytest.raises(AriUnavailable) as rest:
            await ari.asterisk_info()
        with pytest.raises(AriUnavailable):
            await ari.connect_events()
    assert "secret-x" not in rest.value.message
    assert "cannot reach ARI at http://127.0.0.1:" in rest.value.message


@pytest.mark.slow
async def test_restart_drops_the_websocket_and_the_reconnect_loop_reconnects(
    sandbox: Sandbox,
) -> None:
    connects: list[int] = []
    registered_after: list[bool] = []
    events: asyncio.Queue[Event] = asyncio.Queue()

    async with AriClient(creds(sandbox)) as ari:
        # What the daemon does per connection: reconcile (re-read channels), then read events.
        async def serve(stream: EventStream, n: int) -> None:
            try:
                connects.append(n)
                registered_after.append(await ari.is_registered())
                await ari.channels()
                async for event in stream:
                    events.put_nowait(event)
            finally:
                await stream.close()

        stream = await ari.connect_events()
        restarted = asyncio.create_task(asyncio.to_thread(sandbox.restart))
        with pytest.raises(AriDisconnected):
            await wait_for(stream, lambda e: False, timeout=60)
        await restarted
        await stream.close()

        loop = asyncio.create_task(
            keep_connected(
                ari.connect_events,
                serve,
                policy=lambda: retry_policy(_retryable, base=0.2, cap=1.0, max_attempts=40),
                lost=_retryable,
                what="ARI events",
                base=0.2,
                cap=1.0,
            )
        )

        async def started(channel: str) -> Event:
            while True:
                event = await events.get()
                if event.type == "StasisStart" and event.channel_id == channel:
                    return event

        # After the restart the app is gone until we reconnect; then a call reaches us again.
        a, b = uid("r1"), uid("r2")

        async def place_call() -> None:
            while not connects:
                await asyncio.sleep(0.05)
            await ari.originate("Local/+15550104477@from-trunk", channel_id=a, other_channel_id=b)

        caller = asyncio.create_task(place_call())
        event = await asyncio.wait_for(started(b), 30)
        await caller
        assert event.args == ["from-trunk", "+15550104477"]
        assert connects == [0] and registered_after == [True]

        # Calls up would hold "core stop gracefully" back: end this one first.
        await ari.hangup(b)

        # A second restart, while the loop is running: it reconnects by itself.
        await asyncio.to_thread(sandbox.restart)
        c, d = uid("s1"), uid("s2")

        async def place_second() -> None:
            while len(connects) < 2:
                await asyncio.sleep(0.05)
            await ari.originate("Local/+15550104400@from-trunk", channel_id=c, other_channel_id=d)

        caller = asyncio.create_task(place_second())
        await asyncio.wait_for(started(d), 60)
        await caller
        assert connects == [0, 1] and registered_after == [True, True]
        await ari.hangup(d)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
