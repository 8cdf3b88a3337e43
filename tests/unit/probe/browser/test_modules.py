"""Where the browser client's npm packages are installed, and what counts as installed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from callctl.probe.browser import ASSETS
from callctl.probe.browser.modules import (
    DONE,
    PACKAGES,
    install_root,
    lock_hash,
    missing,
    missing_modules,
    modules_dir,
    try_install,
)


def test_the_install_folder_is_in_the_cache_keyed_by_the_lock_not_in_the_package(
    tmp_path: Path,
) -> None:
    want = hashlib.sha256((ASSETS / "package-lock.json").read_bytes()).hexdigest()[:16]
    assert lock_hash() == want
    assert install_root(tmp_path) == tmp_path / "browser" / want
    assert modules_dir(tmp_path) == tmp_path / "browser" / want / "node_modules"
    assert not (ASSETS / "node_modules").exists()


def _installed(root: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    for p in packages:
        (root / p).mkdir(parents=True)
        (root / p / "package.json").write_text("{}")
    (root / DONE).write_text("x\n")
    return root


def test_a_finished_install_with_every_package_is_complete(tmp_path: Path) -> None:
    assert missing_modules(_installed(tmp_path / "node_modules")) == []


def test_an_install_that_never_finished_counts_as_missing_whole(tmp_path: Path) -> None:
    modules = _installed(tmp_path / "node_modules")
    (modules / DONE).unlink()
    assert missing_modules(modules) == [str(modules)]


def test_a_package_gone_from_a_finished_install_is_named(tmp_path: Path) -> None:
    modules = _installed(tmp_path / "node_modules", ("stanza", "esbuild", "events"))
    assert missing_modules(modules) == [str(modules / "puppeteer-core")]


def test_an_unknown_browser_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown browser 'safari'"):
        missing("safari", tmp_path)


def test_without_npm_the_install_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    where, why = try_install(tmp_path / "cache")
    assert where is None
    assert why == (
        "cannot install the browser client's npm packages: "
        "npm is not installed (Debian: apt-get install npm)"
    )
    assert not (tmp_path / "cache").exists()
