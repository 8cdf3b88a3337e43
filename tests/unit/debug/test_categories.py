"""`callctl debug on --category ...` (issue 17 item 3): Asterisk 22's debug categories instead
of the core debug level, the prior restored exactly; the four-step default unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from callctl.debug._model import parse_categories, plan_steps
from callctl.debug.service import DebugService
from callctl.errors import AsteriskUnavailable, UsageError
from support.fake_ami import FakeAmiServer, quiet_prior

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_parse_categories():
    assert parse_categories("ice,dtls:2,stun,rtp") == ("ice", "dtls:2", "stun", "rtp")
    assert parse_categories("none") == ()
    for bad in ["", "ice,", "ICE", "rtp:0", "rtp:100", "core", "ice,ice", "ice dtls", "ice\n"]:
        with pytest.raises(UsageError):
            parse_categories(bad)


def test_default_is_still_the_four_steps():
    assert [s.key for s in plan_steps(quiet_prior(), "dbg", 5)] == [
        "channel",
        "core_debug",
        "pjproject",
        "pjsip_logger",
    ]


def test_categories_replace_the_core_debug_level():
    steps = {s.key: s for s in plan_steps(quiet_prior(), "dbg", 5, ("ice", "dtls:2"))}
    assert list(steps) == ["channel", "categories", "pjproject", "pjsip_logger"]
    assert steps["categories"].apply == ("core set debug category ice dtls:2",)
    assert steps["categories"].undo == ("core set debug category off dtls ice",)


def test_prior_categories_are_restored_exactly():
    p = quiet_prior(categories=("dtls:3", "rtp"), categories_source="operator")
    step = {s.key: s for s in plan_steps(p, "dbg", 5, ("ice", "dtls", "stun_packet"))}
    assert step["categories"].undo == (
        "core set debug category off ice stun_packet",
        "core set debug category dtls:3",
    )


def svc(server: FakeAmiServer, tmp_path) -> DebugService:  # type: ignore[no-untyped-def]
    return DebugService(server.config(), state_dir=tmp_path, clock=lambda: T0)


async def test_on_off_with_categories_leaves_core_debug_alone(server, tmp_path):
    ast = server.ast
    ast.core_debug = 2
    with ast.left_as_found():
        s = svc(server, tmp_path)
        res = await s.on(name="dbg", categories=("ice", "dtls", "stun", "rtp"))
        assert ast.categories == {"ice": -1, "dtls": -1, "stun": -1, "rtp": -1}
        assert ast.core_debug == 2 and ast.pj_level == 5
        assert not any(c.startswith("core set debug ") and "category" not in c for c in ast.history)
        assert s.store.load().categories == ("ice", "dtls", "stun", "rtp")  # type: ignore[union-attr]
        assert res.state.planned == ["channel", "categories", "pjproject", "pjsip_logger"]
        await s.off()


async def test_categories_that_were_on_come_back_with_their_sublevel(server, tmp_path):
    ast = server.ast
    ast.categories = {"dtls": 3, "rtcp": -1}  # set by hand: Asterisk cannot list them
    with ast.left_as_found():
        s = svc(server, tmp_path)
        await s.on(name="dbg", categories=("ice", "dtls"), categories_were=("dtls:3", "rtcp"))
        assert ast.categories == {"dtls": -1, "rtcp": -1, "ice": -1}
        await s.off()


async def test_an_answer_to_the_silent_command_is_a_failure_and_rolls_back(server, tmp_path):
    ast = server.ast
    with ast.left_as_found():
        server.answer_instead["core set debug category ice"] = ["Usage: core set debug category"]
        s = svc(server, tmp_path)
        with pytest.raises(AsteriskUnavailable, match="rolled back: channel, categories"):
            await s.on(name="dbg", categories=("ice",))


@pytest.mark.parametrize("bad", ["ice,core", "ICE", "rtp:0", "ice,ice"])
def test_cli_refuses_unknown_categories_before_contacting_asterisk(tmp_path, monkeypatch, bad):
    import io

    from callctl.cli import Console, main

    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CALLCTL_AMI_PORT", "1")  # nothing listens: must not get that far
    err = io.StringIO()
    rc = main(["debug", "on", "--category", bad], Console(stdout=io.StringIO(), stderr=err))
    assert rc == 2 and "debug category" in err.getvalue()
