import fcntl
import hashlib
import shutil
from pathlib import Path

import pytest
from callctl.build import fileutil, pjsource, sources
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


# --- partial downloads: a concurrent build's clean-up keeps a live writer's file ----------


def test_clean_up_keeps_a_partial_a_live_writer_holds(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    d = cache.downloads / "tarballs" / ("1" * 64)
    d.mkdir(parents=True)
    cache.work.mkdir(parents=True)
    live, stale = d / ".a.tar.xz.1a2b.partial", d / ".a.tar.xz.3c4d.partial"
    live.write_bytes(b"half")
    stale.write_bytes(b"left by a killed build")
    with live.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a downloading build holds
        cache.clean_interrupted()
        assert live.exists() and not stale.exists()
    cache.clean_interrupted()
    assert not live.exists()


def test_a_download_survives_another_builds_clean_up_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real download (file:// URL) during which another build starts and cleans up.
    payload = b"tarball bytes" * 1000
    src = tmp_path / "asterisk-22.10.1.tar.gz"
    src.write_bytes(payload)
    cache = Cache(tmp_path / "cache")
    cache.work.mkdir(parents=True)  # the other build's scratch area
    real_copy = shutil.copyfileobj

    def copy_then_clean(fsrc, fdst) -> None:  # type: ignore[no-untyped-def]
        real_copy(fsrc, fdst)
        cache.clean_interrupted()

    monkeypatch.setattr(shutil, "copyfileobj", copy_then_clean)
    sha = hashlib.sha256(payload).hexdigest()
    path = sources._download(src.as_uri(), sha, cache.downloads, "asterisk")
    assert path.read_bytes() == payload
    assert list(path.parent.glob("*.partial")) == []


def test_partial_names_are_unique_and_removed_when_unused(tmp_path: Path) -> None:
    dest = tmp_path / "x.tar.bz2"
    with fileutil.partial(dest) as a, fileutil.partial(dest) as b:
        assert a != b and a.exists() and b.exists()
        assert not fileutil.unlocked_partial(a)
    assert not a.exists() and not b.exists()
    with fileutil.partial(tmp_path / "pkg", directory=True) as d:
        (d / "f").write_text("x")
        assert not fileutil.unlocked_partial(d)
    assert not d.exists()


def test_repack_writes_through_a_locked_partial(tmp_path: Path) -> None:
    tree = tmp_path / "src" / "pjproject-2.17"
    tree.mkdir(parents=True)
    (tree / "README").write_text("pj")
    out = pjsource.repack(tree, tmp_path / "out", "2.17")
    assert out.name == "pjproject-2.17.tar.bz2" and out.stat().st_size > 0
    assert [p.name for p in out.parent.iterdir()] == [out.name]


# --- spec links and prune: a new build is never pruned before its link is written -----------


def test_point_spec_calls_that_interleave_do_not_break_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(tmp_path)
    real = Path.symlink_to
    nested: list[bool] = []

    def symlink_then_another_writer(self: Path, target: str) -> None:
        real(self, target)
        if not nested:  # another process points the same spec between our two calls
            nested.append(True)
            cache.point_spec("default", "other")

    monkeypatch.setattr(Path, "symlink_to", symlink_then_another_writer)
    cache.point_spec("default", "mine")
    assert cache.spec_links() == {"default": "mine"}
    assert [p.name for p in (tmp_path / "specs").iterdir()] == ["default"]


def test_prune_skips_a_build_whose_lock_is_held(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    _fake_build(cache, "fresh")  # published, its spec link not written yet
    held = cache.lock("fresh")
    try:
        assert cache.prune() == []
        assert cache.is_built("fresh")
        cache.point_spec("default", "fresh")
    finally:
        held.close()
    assert cache.prune() == []  # linked now
    cache.point_spec("default", "newer")
    assert cache.prune() == ["fresh"]
