import fcntl
from pathlib import Path

import pytest
from callctl.build.cache import Cache
from callctl.build.cachekey import cache_key, key_inputs
from callctl.errors import StateError


def _inputs(**over: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        spec={"modules": ["a"]},
        asterisk_sha256="1" * 64,
        pjproject_sha256="2" * 64,
        asterisk_patches=[("0001-a.patch", "3" * 64)],
        pjproject_patches=[],
        compiler="gcc 12.2.0",
    )
    base.update(over)
    return key_inputs(**base)  # type: ignore[arg-type]


def test_key_is_stable_and_sensitive_to_every_input() -> None:
    k = cache_key(_inputs())
    assert k == cache_key(_inputs())
    variants = [
        _inputs(spec={"modules": ["a", "b"]}),
        _inputs(asterisk_sha256="9" * 64),
        _inputs(pjproject_sha256="9" * 64),
        _inputs(asterisk_patches=[("0001-a.patch", "4" * 64)]),
        _inputs(pjproject_patches=[("0100-x.patch", "5" * 64)]),
        _inputs(compiler="gcc 13"),
    ]
    keys = {cache_key(v) for v in variants}
    assert k not in keys and len(keys) == len(variants)


def test_interrupted_scratch_trees_are_removed_live_ones_kept(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (cache.work / "dead").mkdir(parents=True)
    (cache.work / "dead" / "file").write_text("x")
    (cache.work / "live").mkdir()
    with (cache.work / "live.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert cache.clean_interrupted() == ["dead"]
    assert (cache.work / "live").is_dir() and not (cache.work / "dead").exists()


def test_a_second_build_of_the_same_key_is_refused_while_one_runs(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    first = cache.lock("k")
    try:
        with pytest.raises(StateError, match="another build"):
            cache.lock("k")
    finally:
        first.close()
    cache.lock("k").close()


def test_publish_never_replaces_a_finished_build(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    out = tmp_path / "out"
    (out / "prefix").mkdir(parents=True)
    (out / "manifest.json").write_text('{"ok": 1}')
    cache.publish("k", out)
    assert cache.is_built("k") and cache.manifest("k") == {"ok": 1}
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(StateError):
        cache.publish("k", again)
    cache.point_spec("name", "k")
    assert cache.spec_links() == {"name": "k"}


def test_a_second_build_can_wait_for_the_first(tmp_path: Path) -> None:
    import threading
    import time

    cache = Cache(tmp_path)
    first = cache.lock("k")
    said: list[str] = []
    threading.Timer(0.3, first.close).start()
    start = time.monotonic()
    second = cache.lock("k", wait=said.append)
    assert time.monotonic() - start >= 0.25
    assert said and "waiting" in said[0] and str(__import__("os").getpid()) in said[0]
    second.close()


def _fake_build(cache: Cache, key: str) -> None:
    (cache.build_dir(key) / "prefix" / "sbin").mkdir(parents=True)
    (cache.build_dir(key) / "manifest.json").write_text("{}")


def test_prune_keeps_linked_and_running_builds(tmp_path: Path) -> None:
    import shutil
    import subprocess

    cache = Cache(tmp_path)
    for key in ("old", "linked", "running"):
        _fake_build(cache, key)
    cache.point_spec("default", "linked")
    exe = cache.build_dir("running") / "prefix" / "sbin" / "sleep"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        assert cache.keys_in_use() == {"running"}
        assert cache.prune() == ["old"]
    finally:
        proc.kill()
        proc.wait()
    assert cache.list_builds() == ["linked", "running"]
    assert not any(p.name.startswith(".trash") for p in cache.builds.iterdir())
    assert cache.prune() == ["running"]  # nothing runs from it any more
