"""Pure parts of callctl.debug: durations, CLI-output parsers, the plan, the state file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from callctl.debug import _parse as P
from callctl.debug._model import (
    CHANNEL_LEVELS,
    DebugState,
    format_duration,
    parse_duration,
    plan_keys,
    plan_steps,
)
from callctl.debug._store import StateStore
from callctl.errors import StateError, UsageError
from support.fake_ami import logger_show_channels, quiet_prior


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("4h", 14400), ("2m5s", 125)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1x", "5s", "4h1s", "1m1m", "-1m", "1.5h"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format_duration():
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(seconds=0)) == "0s"


def test_parse_pjproject_level():
    assert P.parse_pjproject_level(["pjproject log level is 2. (default)"]) == P.PjprojectLevel(
        2, True
    )
    assert P.parse_pjproject_level(["pjproject log level is 5."]) == P.PjprojectLevel(5, False)
    with pytest.raises(P.UnexpectedOutput):
        P.parse_pjproject_level(["No such command 'pjproject show log level'"])


def test_parse_set_outputs():
    assert P.parse_pjproject_set(["pjproject log level was 2 and is now 5."]) == (2, 5, False)
    assert P.parse_pjproject_set(["pjproject log level is still 5."]) == (5, 5, False)
    capped = [
        "Asterisk built or linked with pjproject PJ_LOG_MAX_LEVEL=4.",
        "Lowering request to the max supported level.",
        "pjproject log level was 2 and is now 4.",
    ]
    assert P.parse_pjproject_set(capped) == (2, 4, True)
    assert P.parse_core_set_debug(["Core debug was OFF and is now 5."]) == (0, 5)
    assert P.parse_core_set_debug(["Core debug was 5 and is now OFF."]) == (5, 0)
    assert P.parse_core_set_debug(["Core debug is still 3."]) == (3, 3)


def test_parse_core_settings():
    out = [
        "PBX Core settings",
        "  Root console verbosity:      3",
        "  Debug level:                 7",
        "  Log directory:               /srv/ast/log",
    ]
    assert P.parse_core_settings(out) == P.CoreSettings(7, "/srv/ast/log")


def test_parse_logger_channels_real_layout():
    long_path = "/tmp/a-rather-long-sandbox-root/log/asterisk/callctl-debug"
    out = logger_show_channels(
        [(long_path, "File", "DEBUG NOTICE VERBOSE "), ("", "Console", "NOTICE WARNING ERROR ")]
    )
    rows = P.parse_logger_channels(out)
    assert [r.type for r in rows] == ["File", "Console"]
    assert rows[0].name == long_path[:35] and rows[0].matches(long_path)
    assert rows[0].levels == ("DEBUG", "NOTICE", "VERBOSE")
    assert not rows[1].matches(long_path)


def test_pjsip_setting():
    out = [" ParameterName : ParameterValue", " debug         : 10.0.0.1,10.0.0.2"]
    assert P.pjsip_logger_from_setting(P.parse_pjsip_debug_setting(out)) == "host:10.0.0.1,10.0.0.2"
    assert P.pjsip_logger_from_setting("yes") == "on"
    assert P.pjsip_logger_from_setting("no") == "off"


def test_checks_reject_unexpected_answers():
    with pytest.raises(P.UnexpectedOutput, match="already exists"):
        P.check_logger_add("x", ["Logger channel 'x' already exists"])
    P.check_logger_add("x", [])
    assert P.check_logger_remove(["Removed dynamic logger channel 'x'"]) is True
    assert P.check_logger_remove(["Unable to find dynamic logger channel 'x'"]) is False
    with pytest.raises(P.UnexpectedOutput):
        P.check_pjsip_logger("pjsip set logger on", ["PJSIP Logging disabled"])
    P.check_pjsip_logger("pjsip set logger host 10.0.0.1", ["PJSIP Logging Enabled for host: x"])


def test_plan_default_is_the_seed_sequence_and_its_reverse():
    steps = plan_steps(quiet_prior(), "dbg", 5)
    assert [c for s in steps for c in s.apply] == [
        f"logger add channel dbg {CHANNEL_LEVELS}",
        "core set debug 5",
        "pjproject set log level 5",
        "pjsip set logger on",
    ]
    assert [c for s in reversed(steps) for c in s.undo] == [
        "pjsip set logger off",
        "pjproject set log level default",
        "core set debug off",
        "logger remove channel dbg",
    ]


def test_plan_restores_non_default_prior_and_skips_what_is_already_set():
    steps = {
        s.key: s
        for s in plan_steps(
            quiet_prior(
                core_debug=5, pjproject_level=3, pjproject_default=False, pjsip_logger="on"
            ),
            "dbg",
            5,
        )
    }
    assert "core_debug" not in steps and "pjsip_logger" not in steps
    assert steps["pjproject"].undo == ("pjproject set log level 3",)
    hosts = plan_steps(quiet_prior(pjsip_logger="host:10.0.0.1,10.0.0.2"), "dbg", 5)[-1]
    assert hosts.undo == (
        "pjsip set logger off",
        "pjsip set logger host 10.0.0.1",
        "pjsip set logger add 10.0.0.2",
    )


def make_state() -> DebugState:
    t = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    p = quiet_prior(pjproject_level=3, pjproject_default=False)
    return DebugState(
        status="on",
        target="127.0.0.1:5038",
        name="dbg",
        level=5,
        log_file="/tmp/fake-ast/log/dbg",
        prior=p,
        planned=plan_keys(p, 5),
        applied=["channel", "core_debug"],
        since=t,
        expires=t + timedelta(minutes=15),
        requested_by={"user": "u", "host": "h", "pid": 1},
    )


def test_state_round_trip(tmp_path):
    store = StateStore(tmp_path, "127.0.0.1:5038")
    st = make_state()
    store.save(st)
    back = store.load()
    assert back is not None and back.to_json() == st.to_json()
    assert [s.key for s in back.undo_order()] == ["core_debug", "channel"]
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"
    store.save_off([{"reason": "x"}])
    assert store.load() is None and store.history() == [{"reason": "x"}]


def test_state_corruption_is_a_state_error(tmp_path):
    store = StateStore(tmp_path, "127.0.0.1:5038")
    store.path.write_text("{not json")
    with pytest.raises(StateError, match="not valid JSON"):
        store.load()
    doc = make_state().to_json()
    doc["applied"].append("mystery")
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StateError, match="did not plan"):
        store.load()


def test_default_state_dir_follows_the_project_state_folder():
    from callctl.debug._store import default_state_dir

    assert default_state_dir({"CALLCTL_STATE_DIR": "/a"}) == Path("/a/debug")
    assert default_state_dir({"CALLCTL_STATE": "/b"}) == Path("/b/debug")


def test_default_state_dir_is_the_deployed_one_when_it_exists(tmp_path):
    """One location per host: the CLI finds the daemon's folder without any environment."""
    from callctl.debug._store import default_state_dir

    system = tmp_path / "var-lib-callctl"
    assert default_state_dir({}, system=system) != system / "debug"
    system.mkdir()
    assert default_state_dir({}, system=system) == system / "debug"
    assert default_state_dir({"CALLCTL_STATE": "/b"}, system=system) == Path("/b/debug")
