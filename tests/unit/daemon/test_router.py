"""Reconcile plans, metrics text, log lines, the router with a recording ARI, the HTTP API."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from callctl.asterisk.ari import Event
from callctl.daemon import calls as C
from callctl.daemon import http, logfmt, reconcile
from callctl.daemon.metrics import Histogram, Metrics
from callctl.daemon.stasis import Router
from callctl.routing import dialstring
from callctl.routing.dialstring import DialTarget
from hypothesis import given, settings
from hypothesis import strategies as st
from support.daemon_fakes import (
    DESTINATIONS,
    HOSTILE,
    SAFE_ENDPOINT,
    RecordingAri,
    config,
    event,
    stasis_start,
)

# -- reconcile ---------------------------------------------------------------------------


def started_call(call_id: str = "callctl-aa") -> C.Call:
    call = C.Call(
        id=call_id,
        direction=C.Direction.OUTBOUND,
        caller_channel="1.1",
        candidates=(DialTarget("t", "PJSIP/+1@t"),),
        started=0,
        ring_timeout=5,
    )
    call.start()
    return call


def test_reconcile_finds_lost_answered_and_orphans() -> None:
    ringing, gone = started_call("callctl-aa"), started_call("callctl-bb")
    gone.caller_channel = "2.2"
    snap = reconcile.Snapshot(
        channels={
            "1.1": "Up",
            "callctl-aa-1": "Up",
            "callctl-zz-1": "Ringing",
            "9.9": "Up",
            "5.5": "Up",
        },
        bridges=frozenset({"callctl-aa-br", "callctl-zz-br", "other"}),
        app_channels=frozenset({"9.9"}),
    )
    plan = reconcile.plan([ringing, gone], snap)
    assert plan.answered == [("callctl-aa", "callctl-aa-1")]  # answered while we were away
    assert plan.lost == [("callctl-bb", "2.2"), ("callctl-bb", "callctl-bb-1")]
    # our leg naming or our app's subscription marks an orphan; "5.5" is someone else's
    assert plan.orphan_channels == ["9.9", "callctl-zz-1"]
    assert plan.orphan_bridges == ["callctl-zz-br"]


def test_reconcile_nothing_to_do_and_from_ari() -> None:
    snap = reconcile.Snapshot.from_ari(
        [{"id": "1.1", "state": "Ring"}, {"id": "callctl-aa-1", "state": "Ringing"}],
        [{"id": "callctl-aa-br"}],
        {"channel_ids": ["1.1"], "bridge_ids": ["callctl-aa-br"]},
    )
    assert reconcile.plan([started_call()], snap).empty


# -- metrics and logs --------------------------------------------------------------------


def test_metrics_text_is_prometheus_and_cumulative() -> None:
    m = Metrics()
    m.active_calls.set(2)
    m.calls.inc(direction="outbound", outcome="answered")
    m.calls.inc(direction="outbound", outcome='we"ird\n')
    for value in (0.001, 0.004, 0.3, 100):
        m.setup_seconds.observe(value)
    m.reconnects.inc(interface="ari")
    text = m.render({"ari": True, "ami": False})
    assert "callctl_active_calls 2\n" in text
    assert 'callctl_calls_total{direction="outbound",outcome="answered"} 1' in text
    assert 'outcome="we\\"ird\\n"' in text  # escaped, one line
    assert 'callctl_call_setup_seconds_bucket{le="0.002"} 1' in text
    assert 'callctl_call_setup_seconds_bucket{le="0.005"} 2' in text
    assert 'callctl_call_setup_seconds_bucket{le="60"} 3' in text
    assert 'callctl_call_setup_seconds_bucket{le="+Inf"} 4' in text
    assert "callctl_call_setup_seconds_count 4" in text
    assert 'callctl_reconnects_total{interface="ari"} 1' in text
    assert 'callctl_connected{interface="ami"} 0' in text
    assert all(line.startswith(("#", "callctl_")) for line in text.splitlines())


def test_histogram_bucket_edges_are_inclusive() -> None:
    h = Histogram("x", "x", buckets=(1.0, 2.0))
    h.observe(1.0)
    h.observe(2.0)
    assert list(h.render())[2:4] == ['x_bucket{le="1"} 1', 'x_bucket{le="2"} 2']


def test_log_lines_are_one_line_key_values() -> None:
    body = logfmt.kv("call.start", caller="evil\nts=forged level=error", n=3, skip=None)
    assert "\n" not in body
    assert body == 'event=call.start caller="evil\\nts=forged level=error" n=3'
    record = logging.LogRecord("callctl.x", logging.INFO, __file__, 1, body, None, None)
    line = logfmt.LogfmtFormatter().format(record)
    assert line.startswith("ts=") and " level=info logger=callctl.x event=call.start" in line


# -- router with a recording ARI ---------------------------------------------------------


async def test_router_outbound_flow_with_failover_and_metrics() -> None:
    ari = RecordingAri()
    router = Router(ari, config(), clock=lambda: 10.0)
    ari.router = router
    router.handle(stasis_start("1.1", "from-jingle", "(555) 123-0000"))
    await router.settle()
    (call,) = router.calls.values()
    leg1 = f"{call.id}-1"
    # the caller's ID is set before it joins the bridge (which copies it to the leg's From),
    # and the leg joins only once the bridge holds the caller
    assert sorted(map(repr, ari.log[:4])) == sorted(
        map(
            repr,
            [
                ("bridge", call.bridge_id),
                ("setvar", "1.1", "CALLERID(all)", '"+15550104400" <+15550104400>'),
                ("add", call.bridge_id, ("1.1",)),
                ("create", "PJSIP/+15551230000@carrier-a", leg1, {}),
            ],
        )
    )
    assert ari.log.index(("add", call.bridge_id, ("1.1",))) > ari.log.index(
        ("bridge", call.bridge_id)
    )
    assert ari.log[4:6] == [("add", call.bridge_id, (leg1,)), ("dial", leg1, 20)]
    router.handle(Event("Dial", {"type": "Dial", "peer": {"id": leg1}, "dialstatus": "CONGESTION"}))
    router.handle(event("ChannelDestroyed", leg1, cause=34))
    await router.settle()
    assert ("dial", f"{call.id}-2", 20) in ari.log
    router.handle(event("ChannelStateChange", f"{call.id}-2", chan={"state": "Up"}))
    router.handle(event("ChannelDestroyed", "1.1", cause=16))
    await router.settle()
    assert ari.log[-3:] == [
        ("answer", "1.1"),
        ("hangup", f"{call.id}-2", "normal"),
        ("destroy", call.bridge_id),
    ]
    assert not router.calls and router.metrics.active_calls.value == 0
    assert router.metrics.calls.get(direction="outbound", outcome="answered") == 1


@pytest.mark.parametrize(
    ("args", "name", "cause"),
    [
        (("from-jingle", "5551230000"), "mallory@example.org/x", "rejected"),  # unknown caller
        (("from-jingle", "19005550000"), "alice@example.org/phone", "rejected"),  # premium rate
        (("from-jingle", "12"), "alice@example.org/phone", "number_incomplete"),
        (("from-trunk", "+15559999999"), "", "unallocated"),  # unknown DID
        (("nonsense",), "", "congestion"),
    ],
)
async def test_router_refusals_hang_up_with_the_cause(
    args: tuple[str, ...], name: str, cause: object
) -> None:
    ari = RecordingAri()
    router = Router(ari, config())
    ari.router = router
    router.handle(stasis_start("1.1", *args, name=name))
    await router.settle()
    assert ari.log == [("hangup", "1.1", cause)]
    assert not router.calls


async def test_router_per_caller_limit_and_draining() -> None:
    ari = RecordingAri()
    router = Router(ari, config())
    ari.router = router
    for n in range(3):  # the policy allows 2 per caller, alice's own entry 50
        router.handle(stasis_start(f"{n}.0", "from-jingle", "5551230000"))
    assert len(router.calls) == 3
    router.accepting = False
    router.handle(stasis_start("9.0", "from-jingle", "5551230000"))
    await router.settle()
    assert ("hangup", "9.0", "congestion") in ari.log and len(router.calls) == 3
    router.hangup_all()
    await router.settle()
    assert not router.calls


async def test_router_inbound_standin_and_failed_create() -> None:
    ari = RecordingAri()
    ari.fail_create.add("PJSIP/ph-a")
    router = Router(ari, config(), standins={"alice@example.org/a": "ph-a"})
    ari.router = router
    router.handle(stasis_start("7.7", "from-trunk", "15550104401"))  # sequential a, b
    await router.settle()
    creates = [e[1] for e in ari.log if e[0] == "create"]
    # a's stand-in could not be created, so b is rung through Motif
    assert creates == ["PJSIP/ph-a", "Motif/xmpp-gw/alice@example.org/b"]


def test_standin_names_are_checked() -> None:
    assert dialstring.endpoint_target("a@x", "ph-a") == DialTarget("a@x", "PJSIP/ph-a")
    with pytest.raises(ValueError):
        dialstring.endpoint_target("a@x", "ph&PJSIP/evil")


async def test_router_reconcile_cleans_orphans_and_ends_lost_calls() -> None:
    ari = RecordingAri()
    router = Router(ari, config())
    ari.router = router
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    (call,) = router.calls.values()

    async def channels() -> list[dict[str, Any]]:
        return [{"id": "1.1", "state": "Ring"}, {"id": "callctl-old-1", "state": "Up"}]

    async def bridges() -> list[dict[str, Any]]:
        return [{"id": call.bridge_id}, {"id": "callctl-old-br"}]

    ari.channels = channels  # type: ignore[method-assign]
    ari.bridges = bridges  # type: ignore[method-assign]
    ari.log.clear()
    await router.reconcile("callctl")
    await router.settle()
    assert ("hangup", "callctl-old-1", "congestion") in ari.log
    assert ("destroy", "callctl-old-br") in ari.log
    assert ("hangup", "1.1", "congestion") in ari.log  # its trunk leg vanished: no failover
    assert not router.calls
    assert router.metrics.orphans.get(kind="call") == 1


# -- HTTP API ----------------------------------------------------------------------------


@asynccontextmanager
async def api_on_loopback(**handlers: Any) -> AsyncIterator[int]:
    """The daemon's HTTP API on 127.0.0.1 (a port the system picks), with `handlers` for
    make_app's (a ready daemon with no calls otherwise); yields the port."""
    kw: dict[str, Any] = {
        "health": lambda: {"ready": True},
        "metrics": lambda: "",
        "calls": lambda: [],
        "hangup": lambda call_id: False,
    }
    runner = web.AppRunner(http.make_app(**(kw | handlers)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_http_api_health_metrics_calls_hangup() -> None:
    ended: list[str] = []
    ready = {"ready": False, "checks": {"ari": False}}

    def hangup(call_id: str) -> bool:
        ended.append(call_id)
        return call_id == "callctl-x"

    async with api_on_loopback(
        health=lambda: ready,
        metrics=lambda: "callctl_active_calls 0\n",
        calls=lambda: [{"id": "callctl-x"}],
        hangup=hangup,
        token="s3cret-token",
    ) as port:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/health") as r:
                assert r.status == 503 and (await r.json())["ready"] is False
            ready["ready"] = True
            async with s.get(f"{base}/health") as r:
                assert r.status == 200
            async with s.get(f"{base}/metrics") as r:
                assert r.headers["Content-Type"].startswith("text/plain")
            # numbers and JIDs, and ending calls: only with the token (issue 16 item 4)
            for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
                async with s.get(f"{base}/calls", headers=auth) as r:
                    assert r.status == 401 and "callctl-x" not in await r.text()
                async with s.delete(f"{base}/calls/callctl-x", headers=auth) as r:
                    assert r.status == 401
            assert ended == []
            auth = {"Authorization": "Bearer s3cret-token"}
            async with s.get(f"{base}/calls", headers=auth) as r:
                assert json.loads(await r.text())["calls"] == [{"id": "callctl-x"}]
            async with s.delete(f"{base}/calls/callctl-x", headers=auth) as r:
                assert r.status == 202
            async with s.delete(f"{base}/calls/nope", headers=auth) as r:
                assert r.status == 404
        assert ended == ["callctl-x", "nope"]


async def test_the_cli_reads_the_daemons_private_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callctl.daemon import cli as daemon_cli
    from callctl.errors import StateError, UsageError

    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "state"))
    monkeypatch.delenv(http.TOKEN_ENV, raising=False)
    async with api_on_loopback(calls=lambda: [{"id": "callctl-y"}], token="tok-1") as port:
        with pytest.raises(UsageError, match="no API token"):
            await daemon_cli._api("GET", ("127.0.0.1", port), "/calls")
        path = http.token_path(port)
        assert path == tmp_path / "state" / "api" / f"{port}.token"
        http.write_token(path, "tok-1")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        status, doc = await daemon_cli._api("GET", ("127.0.0.1", port), "/calls")
        assert status == 200 and doc["calls"] == [{"id": "callctl-y"}]
        http.write_token(path, "tok-2")  # e.g. a restarted daemon's
        with pytest.raises(UsageError, match="refused the API token"):
            await daemon_cli._api("GET", ("127.0.0.1", port), "/calls")
        path.parent.chmod(0o777)  # a folder others can write: its token is not trusted
        with pytest.raises(StateError):
            http.read_token(path)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.org"])
def test_http_api_refuses_non_loopback(host: str) -> None:
    from callctl.errors import UsageError

    with pytest.raises(UsageError):
        http.check_loopback(host)
    http.check_loopback("127.0.0.1")
    http.check_loopback("::1")


async def test_settle_is_bounded() -> None:
    router = Router(RecordingAri(), config())

    async def forever() -> None:
        await asyncio.sleep(60)

    router.spawn(forever())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await router.settle(0.2)
    assert loop.time() - t0 < 1.0
    for task in list(router._tasks):
        task.cancel()
    await asyncio.sleep(0)


# -- hostile input through the router ----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(jid=HOSTILE, inbound=st.booleans(), dest=DESTINATIONS)
async def test_router_only_ever_dials_configured_shapes(jid: str, dest: str, inbound: bool) -> None:
    ari = RecordingAri()
    router = Router(ari, config())
    ari.router = router
    router.leg_start_timeout = 0.5
    name = jid if inbound else f"alice@example.org/{jid}"  # a known caller, hostile resource
    router.handle(stasis_start("1.1", "from-trunk" if inbound else "from-jingle", dest, name=name))
    await router.settle()
    for entry in ari.log:
        if entry[0] == "create":
            assert SAFE_ENDPOINT.fullmatch(entry[1]), entry
        if entry[0] == "setvar":  # the caller ID set on the caller: the configured number only
            assert entry[3] == '"+15550104400" <+15550104400>'
    router.hangup_all()
    await router.settle()


async def test_a_failing_request_is_logged_and_the_rest_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = RecordingAri()
    router = Router(ari, config())
    ari.router = router

    async def broken(channel_id: str) -> None:
        raise RuntimeError("bug")

    ari.answer = broken  # type: ignore[method-assign]
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    (call,) = router.calls.values()
    router.handle(event("ChannelStateChange", f"{call.id}-1", chan={"state": "Up"}))
    router.handle(event("ChannelDestroyed", "1.1", cause=16))
    await router.settle()
    assert "event=ari.effect_error" in caplog.text
    assert ari.log[-2:] == [("hangup", f"{call.id}-1", "normal"), ("destroy", call.bridge_id)]


def _api_app() -> web.Application:
    return http.make_app(
        health=lambda: {"ready": True},
        metrics=lambda: "",
        calls=lambda: [],
        hangup=lambda call_id: False,
        token="t",
    )


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 10.0) == b""
    except ConnectionResetError:
        return True


async def test_connections_over_the_cap_are_closed_at_once_and_health_still_answers() -> None:
    """Idle connections cannot use up the daemon's descriptors (issue 16 item 4): past the
    cap a new one is closed on arrival; once one goes, /health answers again."""
    serving = await http.serve(_api_app(), "127.0.0.1", 0, limit=3, max_age=60.0)
    idle = [await asyncio.open_connection("127.0.0.1", serving.port) for _ in range(3)]
    try:
        for _ in range(50):  # until the server has accepted all three
            if serving.guard.active == 3:
                break
            await asyncio.sleep(0.01)
        assert serving.guard.active == 3
        reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
        assert await _closed_by_server(reader)  # over the cap: closed, nothing held
        writer.close()
        assert serving.guard.refused >= 1
        idle.pop()[1].close()
        async with aiohttp.ClientSession() as s:
            for _ in range(50):
                try:
                    async with s.get(f"http://127.0.0.1:{serving.port}/health") as r:
                        assert r.status == 200
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("/health never answered")
    finally:
        for _, w in idle:
            w.close()
        await serving.close()


async def test_a_client_trickling_its_request_is_cut_after_the_connection_lifetime() -> None:
    serving = await http.serve(_api_app(), "127.0.0.1", 0, limit=10, max_age=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", serving.port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\n")  # ... and then nothing, or a byte now and then

        async def trickle() -> None:
            for _ in range(100):
                await asyncio.sleep(0.1)
                writer.write(b"X")

        task = asyncio.ensure_future(trickle())
        assert await _closed_by_server(reader)
        task.cancel()
    finally:
        writer.close()
        await serving.close()


def test_every_dispatch_mode_the_cli_offers_has_a_home() -> None:
    from callctl.daemon import handoff, stasis

    assert set(stasis.DISPATCH) == set(handoff.DISPATCH_MODES)
