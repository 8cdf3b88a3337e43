"""Issue 19: no call is left waiting in Stasis after a failed or stalled request; outcomes
after a reconcile are what the caller saw; a restarted daemon adopts the calls in Dial()."""

from __future__ import annotations

import asyncio
from typing import Any

from callctl.asterisk.ari import AriUnavailable
from callctl.daemon import calls as C
from callctl.daemon import handoff, reconcile
from callctl.daemon.dialplan import DialplanDispatch
from callctl.daemon.stasis import Router
from hypothesis import given, settings
from support.daemon_fakes import HOSTILE, RecordingAri, config, event, stasis_start

TRUNK_A = "PJSIP/+15551230000@carrier-a,20,f(+15550104400 <+15550104400>)"


class FlakyAri(RecordingAri):
    """Fails the named requests with AriUnavailable (after the client's own retries), a
    given number of times; `where` answers GET /channels/{id}."""

    def __init__(self, fail: dict[str, int], where: str = "from-jingle") -> None:
        super().__init__()
        self.fail = fail
        self.where = where

    def _maybe_fail(self, name: str) -> None:
        if self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            self.log.append(("failed", name))
            raise AriUnavailable(f"cannot reach ARI ({name}): EOFError")

    async def continue_in_dialplan(self, channel_id: str, **kw: Any) -> None:
        self._maybe_fail("continue")
        await super().continue_in_dialplan(channel_id, **kw)

    async def hangup(self, channel_id: str, **kw: Any) -> None:
        self._maybe_fail("hangup")
        await super().hangup(channel_id, **kw)

    async def create_channel(self, endpoint: str, **kw: Any) -> dict[str, Any]:
        self._maybe_fail("create")
        return await super().create_channel(endpoint, **kw)

    async def channel(self, channel_id: str) -> dict[str, Any]:
        self.log.append(("get", channel_id))
        return {"id": channel_id, "state": "Ring", "dialplan": {"context": self.where}}


def dials(ari: RecordingAri) -> list[str]:
    return [entry[3].split(",")[0] for entry in ari.log if entry[0] == "setvar"]


async def test_a_failed_hand_off_is_decided_at_once_with_the_next_trunk() -> None:
    """The stall's defect: the continue refused (Asterisk's session limit) was only logged
    and the caller sat in Stasis. Now Asterisk is asked where the caller is: still in the
    app, so the next trunk is tried at once."""
    ari = FlakyAri({"continue": 1})
    router = Router(ari, config(), dispatch="dialplan")
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    await router.settle()
    assert dials(ari) == ["PJSIP/+15551230000@carrier-a", "PJSIP/+15551230000@carrier-b"]
    assert ari.log[-1] == ("continue", "1.1", "callctl-dial", "s", 1)
    assert router.metrics.rescued.get(reason="effect-failed") == 1
    assert not router._unsettled  # the second hand-off went through


async def test_a_failed_hand_off_that_went_through_is_left_to_dial() -> None:
    ari = FlakyAri({"continue": 1}, where=handoff.CONTEXT)
    router = Router(ari, config(), dispatch="dialplan")
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    await router.settle()
    assert dials(ari) == ["PJSIP/+15551230000@carrier-a"]  # not dialled twice
    (call,) = router.calls.values()
    assert not call.ended and not router._unsettled


async def test_a_leg_that_cannot_be_created_fails_over_in_bridge_mode() -> None:
    ari = FlakyAri({"create": 1})
    router = Router(ari, config())
    ari.router = router
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await router.settle()
    await router.settle()
    creates = [e[1] for e in ari.log if e[0] == "create"]
    assert creates == ["PJSIP/+15551230000@carrier-b"]  # carrier-a's create failed
    assert router.metrics.rescued.get(reason="effect-failed") == 1


async def test_the_sweep_hangs_up_a_call_stalled_past_the_bound_and_counts_it() -> None:
    now = [0.0]
    release = asyncio.Event()

    class Stuck(RecordingAri):
        async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
            await release.wait()  # a request stuck behind a stalled Asterisk

    ari = Stuck()
    router = Router(ari, config(), dispatch="dialplan", clock=lambda: now[0], rescue_after=5.0)
    router.handle(stasis_start("1.1", "from-jingle", "5551230000"))
    await asyncio.sleep(0)
    now[0] = 4.0
    router.sweep()
    assert router.calls and router.metrics.rescued.get(reason="stalled") == 0
    now[0] = 6.0
    router.sweep()
    assert not router.calls
    assert router.metrics.rescued.get(reason="stalled") == 1
    assert router.metrics.calls.get(direction="outbound", outcome="congestion") == 1
    release.set()
    await router.settle()
    assert ("hangup", "1.1", "congestion") in ari.log


async def test_a_hangup_that_failed_is_tried_again_by_the_sweep() -> None:
    ari = FlakyAri({"hangup": 2})
    router = Router(ari, config(), dispatch="dialplan")
    router.handle(stasis_start("1.1", "from-jingle", "5551230000", name="mallory@example.org"))
    await router.settle()
    assert router._stranded == {"1.1": 21}  # refused caller, its hangup failed
    router.sweep()
    await router.settle()
    assert router._stranded  # failed again
    router.sweep()
    await router.settle()
    assert not router._stranded and ari.log[-1] == ("hangup", "1.1", "rejected")


# -- outcomes after a reconcile -------------------------------------------------------------


def handed_off_call() -> C.Call:
    call = C.Call(
        id="callctl-1",
        direction=C.Direction.OUTBOUND,
        caller_channel="chan",
        candidates=(
            handoff.read_dial_arguments(TRUNK_A).targets  # type: ignore[union-attr]
        ),
        started=0.0,
        ring_timeout=20,
    )
    call.start()
    return call


def test_a_caller_up_in_dial_is_answered_not_abandoned() -> None:
    call = handed_off_call()
    up = reconcile.Snapshot(channels={"chan": "Up"}, bridges=frozenset())
    assert reconcile.plan([call], up, False).answered == [("callctl-1", "callctl-1-1")]


def test_a_vanished_caller_of_unknown_fate_is_not_counted_abandoned() -> None:
    call = handed_off_call()
    gone = reconcile.Snapshot(channels={}, bridges=frozenset())
    ((_, channel),) = reconcile.plan([call], gone, False).lost
    assert C.lost(call, channel)[-1] == C.Finished(C.UNKNOWN, 16)
    answered = handed_off_call()
    answered.leg_answered("callctl-1-1", 3.0)
    assert C.lost(answered, "chan")[-1] == C.Finished("answered", 16)


# -- adoption -------------------------------------------------------------------------------


async def test_a_restarted_daemon_adopts_the_calls_in_dial() -> None:
    ari = RecordingAri()
    ari.listing = [
        {
            "id": "9.9",
            "state": "Up",
            "dialplan": {"context": handoff.CONTEXT, "exten": "s"},
            "caller": {"name": "alice@example.org/phone", "number": "alice"},
        },
        {"id": "8.8", "state": "Ring", "dialplan": {"context": handoff.CONTEXT}},  # unreadable
        {"id": "7.7", "state": "Up", "dialplan": {"context": "other"}},  # not ours
    ]
    ari.variables = {("9.9", "CALLCTL_DIAL"): TRUNK_A, ("8.8", "CALLCTL_DIAL"): "PJSIP/x,G(y)"}
    router = Router(ari, config(), dispatch="dialplan")
    plan = await router.reconcile("callctl")
    assert plan.adopt == ["8.8", "9.9"]
    (shown,) = router.snapshot()
    assert (shown["state"], shown["number"], shown["trunk"]) == (
        "answered",
        "+15551230000",
        "carrier-a",
    )
    assert router._active_by_caller == {"alice@example.org": 1}
    assert router.metrics.adopted.get(direction="outbound") == 1
    assert not any(e[0] == "hangup" for e in ari.log)  # nothing in Dial() is cut
    fast = router.mode
    assert isinstance(fast, DialplanDispatch)
    fast.report(handoff.Ended("9.9", 16))
    assert router.metrics.calls.get(direction="outbound", outcome="answered") == 1
    # a second reconcile does not adopt it twice
    router.handle(event("ChannelDestroyed", "9.9", cause=16))
    assert not router.calls


@settings(max_examples=200, deadline=None)
@given(text=HOSTILE)
def test_reading_dial_arguments_back_accepts_only_what_dial_arguments_writes(text: str) -> None:
    found = handoff.read_dial_arguments(text)
    if found is not None:
        cid = text.split(",")[2][2:].split(" ")[0] if text.count(",") == 2 else None
        again = handoff.dial_arguments([t.dial_string for t in found.targets], found.timeout, cid)
        assert again == text
    for good in (TRUNK_A, "Motif/gw/a@example.org/x&Motif/gw/b@example.org,15"):
        assert handoff.read_dial_arguments(good) is not None


async def test_a_caller_entering_while_a_reconcile_runs_is_not_hung_up_as_an_orphan() -> None:
    """Seen in the chaos soak's drops: a caller in the app that no call knows yet (its
    StasisStart still queued behind the reconcile) was hung up with 34. Now such a caller
    is ended only if it is still unknown after the grace; a real orphan still is."""
    now = [0.0]
    ari = RecordingAri()
    ari.listing = [{"id": "5.5", "state": "Ring"}, {"id": "6.6", "state": "Ring"}]
    router = Router(ari, config(), dispatch="dialplan", clock=lambda: now[0])

    async def application(name: str | None = None) -> dict[str, Any]:
        return {"channel_ids": ["5.5", "6.6"]}

    ari.application = application  # type: ignore[method-assign]
    await router.reconcile("callctl")
    await router.settle()
    assert not any(e[0] == "hangup" for e in ari.log)
    router.handle(stasis_start("5.5", "from-jingle", "5551230000"))  # it was a new call
    await router.settle()
    now[0] = 3.0
    router.sweep()
    await router.settle()
    hangups = [e for e in ari.log if e[0] == "hangup"]
    assert hangups == [("hangup", "6.6", "congestion")]  # only the real orphan
    assert len(router.calls) == 1 and router.metrics.orphans.get(kind="channel") == 1
