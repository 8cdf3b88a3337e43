"""The fast path (`--dispatch dialplan`) without Asterisk: Dial()'s arguments, the AMI events
that follow a handed-off call, its state machine, the router's requests and reconcile.
The same paths against a real Asterisk: tests/test_daemon_functional.py and
tests/test_daemon_resilience.py run every case in both dispatch modes."""

from __future__ import annotations

import re

import pytest
from callctl.daemon import calls as C
from callctl.daemon import handoff, reconcile
from callctl.daemon.calls import Phase
from callctl.daemon.dialplan import DialplanDispatch
from callctl.daemon.stasis import Router
from callctl.paths import REPO_ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from support.daemon_fakes import (
    DESTINATIONS,
    HOSTILE,
    JIDS,
    TRUNKS,
    RecordingAri,
    config,
    inbound_call,
    outbound_call,
    stasis_start,
)

REPO = REPO_ROOT
TRUNK_A = "PJSIP/+15551230000@carrier-a"

# -- Dial() arguments ----------------------------------------------------------------------


def test_dial_arguments_shape() -> None:
    assert handoff.dial_arguments([TRUNK_A], 45, "+15550104400") == (
        "PJSIP/+15551230000@carrier-a,45,f(+15550104400 <+15550104400>)"
    )
    assert handoff.dial_arguments(["PJSIP/ph-a", "Motif/gw/a@example.org/x"], 15, None) == (
        "PJSIP/ph-a&Motif/gw/a@example.org/x,15"
    )


@pytest.mark.parametrize(
    ("dests", "timeout", "cid"),
    [
        ([], 10, None),
        (["PJSIP/+1555@carrier-a,1,G(x)"], 10, None),  # a comma would add Dial options
        (["PJSIP/a&PJSIP/b"], 10, None),  # '&' only from the list, never inside a destination
        (["PJSIP/${EXTEN}"], 10, None),
        (["PJSIP/x(y)"], 10, None),
        (["Local/1@ctx\n"], 10, None),
        ([TRUNK_A], 0, None),
        ([TRUNK_A], 3601, None),
        ([TRUNK_A], True, None),
        ([TRUNK_A], 10, "+1555) U(evil"),
        ([TRUNK_A], 10, "alice"),
    ],
)
def test_dial_arguments_refuse_anything_outside_the_strict_forms(
    dests: list[str], timeout: int, cid: str | None
) -> None:
    with pytest.raises(handoff.UnsafeDialArguments):
        handoff.dial_arguments(dests, timeout, cid)


_ARGS = re.compile(
    r"(PJSIP/\+1[0-9]{10}@carrier-[ab]|PJSIP/ph-[ab])"
    r"(&PJSIP/ph-[ab])*,[0-9]+(,f\(\+15550104400 <\+15550104400>\))?"
)


@settings(max_examples=150, deadline=None)
@given(jid=HOSTILE, inbound=st.booleans(), dest=DESTINATIONS)
async def test_router_hands_off_only_configured_shapes(jid: str, dest: str, inbound: bool) -> None:
    """Hostile numbers and JIDs through the router: the one variable it sets on the fast path
    is always Dial()'s arguments in the exact expected shape, nothing smuggled in."""
    ari = RecordingAri()
    router = Router(
        ari,
        config(),
        dispatch="dialplan",
        standins={"alice@example.org/a": "ph-a", "alice@example.org/b": "ph-b"},
    )
    name = jid if inbound else f"alice@example.org/{jid}"
    router.handle(stasis_start("1.1", "from-trunk" if inbound else "from-jingle", dest, name=name))
    await router.settle()
    for entry in ari.log:
        if entry[0] == "setvar":
            assert entry[2] == "CALLCTL_DIAL"
            assert _ARGS.fullmatch(entry[3]), entry[3]
        assert entry[0] not in ("create", "bridge", "dial")  # nothing placed over ARI
    router.hangup_all()
    await router.settle()


# -- AMI events ----------------------------------------------------------------------------


def test_parse_ami_event() -> None:
    assert handoff.parse_ami_event(
        {"Event": "DialEnd", "Uniqueid": "17.1", "DialStatus": "ANSWER"}
    ) == handoff.Answered("17.1")
    assert (
        handoff.parse_ami_event({"Event": "DialEnd", "Uniqueid": "17.1", "DialStatus": "BUSY"})
        is None
    )
    assert handoff.parse_ami_event(
        {"Event": "Hangup", "Uniqueid": "17.1", "Cause": "17"}
    ) == handoff.Ended("17.1", 17)
    # panoramisk's messages match header names in any case
    from panoramisk.message import Message

    assert handoff.parse_ami_event(
        Message({"event": "Hangup", "uniqueid": "1.2"})
    ) == handoff.Ended("1.2", None)
    assert handoff.parse_ami_event({"Event": "Hangup", "Uniqueid": "17.1"}) == handoff.Ended(
        "17.1", None
    )
    assert handoff.parse_ami_event({"Event": "Hangup", "Uniqueid": "a b"}) is None
    assert handoff.parse_ami_event({"Event": "Newchannel", "Uniqueid": "17.1"}) is None
    assert handoff.parse_ami_event({"Event": "UserEvent", "Uniqueid": "17.1"}) is None


def test_ami_filters_ask_for_exactly_the_events_parsed() -> None:
    names = {
        re.search(r"name\((\w+)\)", f).group(1)  # type: ignore[union-attr]
        for f, _ in handoff.AMI_FILTERS
    }
    assert names == {"DialEnd", "Hangup"}
    assert {pattern for _, pattern in handoff.AMI_FILTERS} == {handoff.CONTEXT}


def test_dialplan_has_the_fast_path_context() -> None:
    text = (REPO / "dialplan" / "callctl.conf").read_text()
    block = text[text.index(f"[{handoff.CONTEXT}]") :]
    block = block[: block.index("\n[")]
    assert f"Dial(${{{handoff.DIAL_VARIABLE}}})" in block
    assert "Stasis(${CALLCTL_APP},dialed,${DIALSTATUS},${HANGUPCAUSE})" in block


# -- state machine -------------------------------------------------------------------------

out_call = outbound_call


def performed(call: C.Call, effects: list[C.Effect]) -> list[C.Effect]:
    """The effects the dialplan mode turns into requests (the others are Dial()'s)."""
    mode = DialplanDispatch(Router(RecordingAri(), config(), dispatch="dialplan"))
    return [effect for effect, _ in mode.steps(call, effects)]


def one_dial(call: C.Call, effects: list[C.Effect]) -> C.DialLeg:
    """The one request the dialplan mode makes of `effects`, which must be a Dial()."""
    (dial,) = performed(call, effects)
    assert isinstance(dial, C.DialLeg)
    return dial


def ending(call: C.Call, effects: list[C.Effect]) -> tuple[C.Effect, list[C.Effect]]:
    """How the call finished (the last effect) and the requests the dialplan mode makes."""
    return effects[-1], performed(call, effects)


def test_dialplan_mode_dials_without_a_bridge_and_fails_over() -> None:
    call = out_call()
    assert one_dial(call, call.start()).target == TRUNKS[0]  # no bridge to set up
    assert one_dial(call, call.legs_returned("CONGESTION", 34)).target == TRUNKS[1]
    # no leg to hang up and no bridge: hanging up the caller ends it all
    finished, requests = ending(call, call.legs_returned("BUSY", 17))
    assert finished == C.Finished("busy", 17) and requests == [C.Hangup("chan", 17)]


def test_dialplan_mode_answered_then_ended() -> None:
    call = out_call()
    call.start()
    assert performed(call, call.leg_answered(call.legs[0].channel_id, 101.5)) == []  # Dial()'s
    assert call.phase is Phase.ANSWERED and call.setup_seconds() == 1.5
    assert ending(call, call.caller_hung_up(16)) == (C.Finished("answered", 16), [])
    assert call.to_dict(130.0)["legs"] == [
        {"channel": "callctl-1-1", "target": "carrier-a", "state": "gone", "cause": 16}
    ]
    assert call.caller_hung_up(16) == []


def test_dialplan_mode_caller_abandons_while_ringing() -> None:
    call = out_call()
    call.start()
    assert ending(call, call.caller_hung_up(None)) == (C.Finished("abandoned", 16), [])


def test_parallel_ringing_is_one_dial() -> None:
    call = inbound_call(parallel=True)
    effects = call.start()
    assert [e.target for e in effects if isinstance(e, C.DialLeg)] == list(JIDS)
    assert one_dial(call, effects).target == JIDS[0]  # both targets in the one Dial()
    finished, requests = ending(call, call.legs_returned("NOANSWER", 16))
    assert finished == C.Finished("no-answer", 19) and requests == [C.Hangup("trunk", 19)]


def test_reconcile_checks_only_the_caller_of_a_handoff_call() -> None:
    call = out_call()
    call.start()
    alive = reconcile.Snapshot(channels={"chan": "Ring"}, bridges=frozenset())
    assert reconcile.plan([call], alive, False).empty  # its leg label is no channel: not lost
    gone = reconcile.Snapshot(channels={}, bridges=frozenset())
    assert reconcile.plan([call], gone, False).lost == [("callctl-1", "chan")]
    # back in the app with a leg still live: Dial() returned while events were lost
    back = reconcile.Snapshot(
        channels={"chan": "Ring"}, bridges=frozenset(), app_channels=frozenset({"chan"})
    )
    assert reconcile.plan([call], back, False).lost == [("callctl-1", "callctl-1-1")]


# -- router ----------------------------------------------------------------------------------


async def test_router_hands_off_then_follows_the_call() -> None:
    ari = RecordingAri()
    router = Router(ari, config(), dispatch="dialplan", clock=lambda: 10.0)
    router.handle(stasis_start("1.1", "from-jingle", "(555) 123-0000"))
    await router.settle()
    (call,) = router.calls.values()
    assert ari.log == [
        (
            "setvar",
            "1.1",
            "CALLCTL_DIAL",
            "PJSIP/+15551230000@carrier-a,20,f(+15550104400 <+15550104400>)",
        ),
        ("continue", "1.1", "callctl-dial", "s", 1),
    ]
    # Dial() came back congested: the next trunk, on the same channel
    router.handle(stasis_start("1.1", "dialed", "CONGESTION", "34"))
    await router.settle()
    assert ari.log[-2][3].startswith("PJSIP/+15551230000@carrier-b,")
    fast = router.mode
    assert isinstance(fast, DialplanDispatch)
    fast.report(handoff.Answered("someone-else"))  # not a caller of ours: ignored
    fast.report(handoff.Answered("1.1"))
    assert call.phase is Phase.ANSWERED and call.trunk == "carrier-b"
    fast.report(handoff.Ended("1.1", 16))
    await router.settle()
    assert not router.calls and ari.log[-1][0] == "continue"  # no hangup: already gone
    assert router.metrics.calls.get(direction="outbound", outcome="answered") == 1
    assert router.metrics.failovers.get(direction="outbound") == 1


async def test_router_hangs_up_a_return_it_does_not_know() -> None:
    ari = RecordingAri()
    router = Router(ari, config(), dispatch="dialplan")
    router.handle(stasis_start("9.9", "dialed", "BUSY", "17"))
    await router.settle()
    assert ari.log == [("hangup", "9.9", "congestion")]


async def test_router_handoff_caller_gone_before_continue() -> None:
    ari = RecordingAri()
    router = Router(ari, config(), dispatch="dialplan")

    async def gone(channel_id: str, variable: str, value: str) -> None:
        from callctl.asterisk.ari import AriNotFound

        raise AriNotFound("gone", http_status=404, ari_message="Channel not found")

    ari.set_variable = gone  # type: ignore[method-assign]
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    assert not router.calls
    assert router.metrics.calls.get(direction="outbound", outcome="abandoned") == 1


async def test_refresh_learns_an_answer_missed_during_an_ami_gap() -> None:
    class Ari(RecordingAri):
        async def channel(self, channel_id: str) -> dict[str, object]:
            await super().channel(channel_id)
            return {"id": channel_id, "state": "Up"}

    ari = Ari()
    router = Router(ari, config(), dispatch="dialplan", clock=lambda: 12.0)
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    (call,) = router.calls.values()
    assert call.phase is Phase.DIALING
    assert isinstance(router.mode, DialplanDispatch)
    await router.mode.refresh()
    assert ("get", "1.1") in ari.log
    assert call.phase is Phase.ANSWERED and router.snapshot()[0]["state"] == "answered"
