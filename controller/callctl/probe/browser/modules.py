"""Where the page's npm packages live, whether they are there, and how they get there.

`npm ci` installs exactly what package-lock.json pins into a cache folder keyed by the lock's
hash (`<cache>/browser/<hash>/node_modules`), never into the package's source tree: a
changed lock gets a folder of its own, and an installed callctl stays read-only.
scripts/install-deps.sh computes the same folder; `callctl probe --install-browser` runs the
same install.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from callctl.paths import cache_dir
from callctl.probe.browser import ASSETS

MANIFEST = ASSETS / "package.json"
LOCK = ASSETS / "package-lock.json"
# What driver.mjs and the page import; a folder without one of them is not usable.
PACKAGES = ("stanza", "puppeteer-core", "esbuild", "events")
BROWSERS = {"chromium": "/usr/bin/chromium", "firefox": "/usr/bin/firefox-esr"}
# Written last by an install that succeeded: a half-finished `npm ci` never counts.
DONE = ".callctl-installed"
INSTALL_HINT = "run `callctl probe --install-browser` (or scripts/install-deps.sh as root)"
NPM_TIMEOUT = 900.0


def lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]


def install_root(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "browser" / lock_hash()


def modules_dir(cache: Path | None = None) -> Path:
    return install_root(cache) / "node_modules"


def missing_modules(modules: Path) -> list[str]:
    """The pinned packages `modules` lacks (all of them when no install finished there)."""
    if not (modules / DONE).is_file():
        return [str(modules)]
    return [str(modules / p) for p in PACKAGES if not (modules / p / "package.json").is_file()]


def missing(kind: str, modules: Path) -> list[str]:
    """What a `kind` browser client needs and this machine lacks: the browser, node, the
    installed npm packages."""
    if kind not in BROWSERS:
        raise ValueError(f"unknown browser {kind!r} (known: {sorted(BROWSERS)})")
    gone = [] if Path(BROWSERS[kind]).is_file() else [BROWSERS[kind]]
    if shutil.which("node") is None:
        gone.append("node")
    return gone + missing_modules(modules)


def install(cache: Path | None = None) -> Path:
    """`npm ci` into the lock's folder unless a finished install is there; its node_modules.
    Raises OSError or subprocess.CalledProcessError with npm's output."""
    root = install_root(cache)
    modules = root / "node_modules"
    if not missing_modules(modules):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed (Debian: apt-get install npm)")
    root.mkdir(parents=True, exist_ok=True)
    # npm ci reads the manifest and the lock from the folder it installs in.
    shutil.copyfile(MANIFEST, root / MANIFEST.name)
    shutil.copyfile(LOCK, root / LOCK.name)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
    )
    (modules / DONE).write_text(lock_hash() + "\n", encoding="utf-8")
    return modules


def try_install(cache: Path | None = None) -> tuple[Path | None, str]:
    """install(), with a failure told as one line: (node_modules, "") or (None, why)."""
    try:
        return install(cache), ""
    except subprocess.CalledProcessError as exc:
        return None, f"npm ci failed: {(exc.stderr or exc.stdout or '').strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot install the browser client's npm packages: {exc}"


def main() -> int:
    """`python3 -m callctl.probe.browser.modules`: the install, for scripts/install-deps.sh
    (which runs before the venv exists; this module needs only the standard library)."""
    where, why = try_install()
    print(where or why, file=sys.stdout if where else sys.stderr)
    return 0 if where else 1


if __name__ == "__main__":
    raise SystemExit(main())
