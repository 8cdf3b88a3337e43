"""The probe's Prometheus textfile: content, label escaping, atomic write."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from callctl.probe import metrics
from callctl.probe.timeline import PHASES, Timeline

SAMPLE = re.compile(r'^[a-z_]+\{(?:[a-z_]+="(?:[^"\\\n]|\\["\\n])*",?)+\} -?[0-9.e+]+$')


def _failed_at_ringing() -> Timeline:
    t = Timeline()
    t.mark("login", 0.25)
    t.mark("session-initiate", 0.5)
    t.mark("ringing", 0.75)
    t.fail("not answered")
    return t


def test_success_failed_stage_and_event_times() -> None:
    text = metrics.render(_failed_at_ringing(), "sandbox:default", 1000.0)
    lines = text.splitlines()
    assert 'callctl_probe_success{target="sandbox:default"} 0' in lines
    assert 'callctl_probe_failed_stage{target="sandbox:default",stage="ringing"} 1' in lines
    flags = [ln for ln in lines if ln.startswith("callctl_probe_failed_stage{")]
    assert len(flags) == len(PHASES) and sum(ln.endswith(" 1") for ln in flags) == 1
    assert 'callctl_probe_event_seconds{target="sandbox:default",event="ringing"} 0.750000' in lines
    assert not any('event="accept"' in ln for ln in lines)  # never reached: no sample
    assert (
        lines[-1] == 'callctl_probe_last_run_timestamp_seconds{target="sandbox:default"} 1000.000'
    )
    # Every sample line is well formed; every family has HELP and TYPE.
    samples = [ln for ln in lines if not ln.startswith("#")]
    assert all(SAMPLE.match(ln) for ln in samples), samples
    families = {ln.split("{")[0] for ln in samples}
    for fam in families:
        assert f"# TYPE {fam} gauge" in lines and any(
            ln.startswith(f"# HELP {fam} ") for ln in lines
        )


def test_a_passed_probe_has_success_one_and_no_failed_stage() -> None:
    t = Timeline()
    for i, e in enumerate(
        ("login", "session-initiate", "accept", "ice", "audio-out", "audio-in", "hangup")
    ):
        t.mark(e, i / 10)
    text = metrics.render(t, "x", 1.0)
    assert 'callctl_probe_success{target="x"} 1' in text
    assert '"} 1\n' not in text.split("callctl_probe_failed_stage", 1)[1].split("# HELP")[0]


def test_label_values_are_escaped() -> None:
    text = metrics.render(Timeline(), 'a"b\\c\nd', 1.0)
    assert 'target="a\\"b\\\\c\\nd"' in text
    assert all(SAMPLE.match(ln) for ln in text.splitlines() if not ln.startswith("#"))


def test_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "probe.prom"
    path.write_text("old\n")
    metrics.write(path, "new 1\n")
    assert path.read_text() == "new 1\n"
    assert os.listdir(tmp_path) == ["probe.prom"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "probe.prom"
    path.write_text("old\n")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        metrics.write(path, "new\n")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["probe.prom"]
