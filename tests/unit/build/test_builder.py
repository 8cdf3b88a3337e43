"""build(): what it leaves behind and which error it reports when a step fails or the disk is
full, and that its spec link is written under the build lock (no prune in between).

The sources and steps are replaced (plan_build, _build_in): what is under test is build()'s
own bookkeeping around them. The real steps are proved in tests/functional."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import pytest
from callctl.build import builder
from callctl.build.builder import BuildPlan, BuildResult, build
from callctl.build.cache import Cache
from callctl.build.spec import parse_spec
from callctl.errors import BuildError

SPEC = parse_spec("name: t\nasterisk: {kind: debian}\n")


def _plan(key: str) -> BuildPlan:
    return BuildPlan(SPEC, None, None, None, None, "gcc", {}, key)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cache:
    monkeypatch.setattr(builder, "plan_build", lambda spec, cache: _plan("k1"))
    return Cache(tmp_path / "cache")


def _failing_make(cache: Cache, scratch: Path, *_: Any) -> BuildResult:
    logs = scratch / "logs"
    logs.mkdir(parents=True)
    (logs / "06-make.log").write_text("cc1: fatal error: No space left on device\n")
    raise BuildError("make failed (exit 2)", step="make", log_path=str(logs / "06-make.log"))


def test_a_full_disk_reports_the_steps_error_and_removes_the_scratch_tree(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        builder, "_build_in", lambda plan, c, scratch, *a: _failing_make(c, scratch)
    )

    def disk_full(src: Path, dst: Path, **_: Any) -> None:
        Path(dst).mkdir(parents=True)
        (Path(dst) / "06-make.log").write_text("cc1")
        raise shutil.Error([(str(src), str(dst), str(OSError(errno.ENOSPC, "No space")))])

    monkeypatch.setattr(shutil, "copytree", disk_full)
    said: list[str] = []
    with pytest.raises(BuildError, match="make failed") as caught:
        build(SPEC, cache, said.append)
    assert caught.value.log_path is None  # the logs could not be kept: no dangling path
    assert any("could not keep the build logs" in s for s in said)
    assert not (cache.work / "k1").exists()
    assert list((cache.root / "failed").iterdir()) == []  # no half copy


def test_a_failed_build_keeps_its_logs_when_it_can(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        builder, "_build_in", lambda plan, c, scratch, *a: _failing_make(c, scratch)
    )
    with pytest.raises(BuildError) as caught:
        build(SPEC, cache, lambda _: None)
    assert caught.value.log_path is not None
    assert Path(caught.value.log_path).read_text().startswith("cc1: fatal error")
    assert not (cache.work / "k1").exists()


def test_the_spec_link_is_written_under_the_build_lock(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    def publish(plan: BuildPlan, c: Cache, scratch: Path, *_: Any) -> BuildResult:
        out = scratch / "out"
        (out / "prefix").mkdir(parents=True)
        (out / "manifest.json").write_text("{}")
        return BuildResult(plan.key, c.publish(plan.key, out), {}, False)

    monkeypatch.setattr(builder, "_build_in", publish)
    real_point = Cache.point_spec
    prunes: list[list[str]] = []

    def point_after_a_prune(self: Cache, name: str, key: str) -> None:
        prunes.append(self.prune())  # another process prunes right now
        real_point(self, name, key)

    monkeypatch.setattr(Cache, "point_spec", point_after_a_prune)
    first = build(SPEC, cache, lambda _: None)  # a new build
    again = build(SPEC, cache, lambda _: None)  # a reuse
    assert (first.reused, again.reused) == (False, True)
    assert prunes == [[], []]
    assert cache.spec_links() == {"t": "k1"} and cache.is_built("k1")
