"""The call state machine (pure): events in, effects out."""

from __future__ import annotations

import pytest
from callctl.daemon import calls as C
from callctl.daemon.calls import Phase
from callctl.routing.causes import Cause
from support.daemon_fakes import JIDS, TRUNKS, inbound_call, outbound_call

out_call = outbound_call
in_call = inbound_call


def kinds(effects: list[C.Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def test_outbound_answer_bridges_and_measures_setup() -> None:
    call = out_call()
    start = call.start()
    assert start == [
        C.SetupBridge("callctl-1-br", "chan", "+15550104400"),
        C.DialLeg(
            "callctl-1-1",
            TRUNKS[0],
            "callctl-1-br",
            "chan",
            30,
            "+15550104400",
        ),
    ]
    assert call.leg_ringing("callctl-1-1") == []  # the bridge carries the 180
    assert call.phase is Phase.RINGING
    assert call.leg_answered("callctl-1-1", 100.25) == [C.Answer("chan")]
    assert call.to_dict(100.25)["state"] == "answered"  # (mypy narrowed .phase above)
    assert call.setup_seconds() == pytest.approx(0.25)
    end = call.leg_gone("callctl-1-1", int(Cause.NORMAL_CLEARING))
    assert end == [
        C.Hangup("chan", 16),
        C.DestroyBridge("callctl-1-br"),
        C.Finished("answered", 16),
    ]
    assert call.leg_gone("callctl-1-1", 16) == [] and call.caller_hung_up(16) == []


def test_caller_hangup_ends_trunk_leg_with_its_cause() -> None:
    call = out_call()
    call.start()
    call.leg_answered("callctl-1-1", 101.0)
    assert call.caller_hung_up(int(Cause.NORMAL_CLEARING)) == [
        C.Hangup("callctl-1-1", 16),
        C.DestroyBridge("callctl-1-br"),
        C.Finished("answered", 16),
    ]


@pytest.mark.parametrize("cause", [34, 38, 41, 42, 27, 18, 102])
def test_carrier_trouble_fails_over_to_next_trunk(cause: int) -> None:
    call = out_call()
    call.start()
    effects = call.leg_gone("callctl-1-1", cause)
    assert effects == [
        C.DialLeg(
            "callctl-1-2",
            TRUNKS[1],
            "callctl-1-br",
            "chan",
            30,
            "+15550104400",
        )
    ]
    # the last trunk failing too ends the call with its cause
    last = call.leg_gone("callctl-1-2", 34)
    assert last[-1] == C.Finished("congestion", 34) and C.Hangup("chan", 34) in last


@pytest.mark.parametrize(
    ("cause", "dialstatus", "want", "outcome"),
    [
        (17, "BUSY", 17, "busy"),
        (16, "NOANSWER", 19, "no-answer"),  # a ring timeout reads as a normal hangup
        (0, "NOANSWER", 19, "no-answer"),
        (1, "CHANUNAVAIL", 1, "unreachable"),
        (21, "", 21, "rejected"),
    ],
)
def test_answers_about_the_destination_do_not_fail_over(
    cause: int, dialstatus: str, want: int, outcome: str
) -> None:
    call = out_call()
    call.start()
    call.leg_dialstatus("callctl-1-1", dialstatus)
    effects = call.leg_gone("callctl-1-1", cause)
    assert effects == [
        C.Hangup("chan", want),
        C.DestroyBridge("callctl-1-br"),
        C.Finished(outcome, want),
    ]


def test_early_media_is_not_downgraded_to_ringing() -> None:
    call = out_call()
    call.start()
    assert call.leg_progress("callctl-1-1") == []
    assert call.leg_ringing("callctl-1-1") == []
    assert call.phase is Phase.EARLY_MEDIA


def test_caller_abandons_while_ringing() -> None:
    call = out_call()
    call.start()
    call.leg_ringing("callctl-1-1")
    effects = call.caller_hung_up(None)
    assert effects == [
        C.Hangup("callctl-1-1", 16),
        C.DestroyBridge("callctl-1-br"),
        C.Finished("abandoned", 16),
    ]


def test_parallel_ringing_first_answer_wins_others_cleared() -> None:
    call = in_call(parallel=True)
    assert kinds(call.start()) == ["SetupBridge", "DialLeg", "DialLeg"]
    assert call.leg_answered("callctl-2-2", 3.0) == [C.Answer("trunk"), C.Hangup("callctl-2-1", 26)]
    assert call.leg_answered("callctl-2-1", 3.1) == []  # already hung up by us
    assert call.leg_gone("callctl-2-1", 26) == []
    assert call.phase is Phase.ANSWERED


def test_parallel_ringing_all_fail_prefers_busy() -> None:
    call = in_call(parallel=True)
    call.start()
    call.leg_dialstatus("callctl-2-1", "BUSY")
    assert call.leg_gone("callctl-2-1", 17) == []  # the other still rings
    call.leg_dialstatus("callctl-2-2", "NOANSWER")
    effects = call.leg_gone("callctl-2-2", 16)
    assert effects[-1] == C.Finished("busy", 17)


def test_sequential_ringing_tries_next_whatever_the_cause() -> None:
    call = in_call(parallel=False)
    assert kinds(call.start()) == ["SetupBridge", "DialLeg"]
    call.leg_dialstatus("callctl-2-1", "NOANSWER")
    effects = call.leg_gone("callctl-2-1", 16)
    assert effects == [C.DialLeg("callctl-2-2", JIDS[1], "callctl-2-br", "trunk", 15, None)]


def test_outside_hangup_and_lost_channels() -> None:
    call = out_call()
    call.start()
    call.leg_answered("callctl-1-1", 101.0)
    assert C.lost(call, "callctl-1-1")[-1] == C.Finished("answered", 16)
    call = out_call()
    call.start()
    # a leg lost while disconnected never fails over: it may have been answered or busy
    effects = C.lost(call, "callctl-1-1")
    assert C.Hangup("chan", 34) in effects and not any(isinstance(e, C.DialLeg) for e in effects)
    call = out_call()
    call.start()
    assert call.hangup()[:2] == [C.Hangup("callctl-1-1", 16), C.Hangup("chan", 16)]


def test_to_dict_shows_legs_state_age_trunk() -> None:
    call = out_call()
    call.start()
    call.leg_ringing("callctl-1-1")
    doc = call.to_dict(now=103.5)
    assert doc["state"] == "ringing" and doc["age_s"] == 3.5 and doc["trunk"] == "carrier-a"
    assert doc["legs"] == [
        {"channel": "callctl-1-1", "target": "carrier-a", "state": "ringing", "cause": None}
    ]
