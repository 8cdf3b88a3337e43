"""The build manager: from a spec to an installed, manifested Asterisk in the cache.

Steps run in a scratch tree under CACHE/work/KEY; the result is renamed into
CACHE/builds/KEY only when every step succeeded, so an earlier good build is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callctl.build import modules as menuselect
from callctl.build import pjsource
from callctl.build.buildenv import keyed_environment
from callctl.build.cache import Cache
from callctl.build.cachekey import RECIPE_VERSION, cache_key, key_inputs
from callctl.build.fileutil import rmtree
from callctl.build.patching import apply_loose, apply_series
from callctl.build.patchout import PatchResult
from callctl.build.series import Series, check_names, load_series
from callctl.build.sources import ResolvedSource, resolve_sources
from callctl.build.spec import BuildSpec
from callctl.build.steps import Progress, StepRunner
from callctl.errors import BuildError, PatchError, UsageError

MANIFEST_FORMAT = 1
STEPS = (
    "unpack",
    "patch-asterisk",
    "pjproject",
    "configure",
    "menuselect",
    "make",
    "install",
    "verify",
    "publish",
)
# xmldoc generation is slow and the gateway does not need Asterisk's built-in help texts.
BASE_CONFIGURE_ARGS = ("--disable-xmldoc",)


@dataclass
class BuildPlan:
    spec: BuildSpec
    asterisk: ResolvedSource
    pjproject: ResolvedSource
    asterisk_series: Series
    pjproject_series: Series
    compiler: str
    inputs: dict[str, Any]
    key: str


@dataclass
class BuildResult:
    key: str
    path: Path
    manifest: dict[str, Any]
    reused: bool

    @property
    def prefix(self) -> Path:
        return self.path / "prefix"


def compiler_version() -> str:
    for cc in (os.environ.get("CC", ""), "gcc", "cc"):
        if cc and shutil.which(cc):
            out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
            return out.splitlines()[0].strip() if out else cc
    raise UsageError("no C compiler found", hint="run scripts/install-deps.sh")


def plan_build(spec: BuildSpec, cache: Cache) -> BuildPlan:
    """Resolve sources and series and compute the cache key. Verifies sha256s; builds nothing."""
    a_series = load_series(spec.asterisk_series, "asterisk")
    p_series = load_series(spec.pjproject_series, "pjproject")
    asterisk, pjproject = resolve_sources(spec.asterisk, spec.pjproject, cache.downloads)
    compiler = compiler_version()
    inputs = key_inputs(
        spec=spec.canonical(),
        asterisk_sha256=asterisk.sha256,
        pjproject_sha256=pjproject.sha256,
        asterisk_patches=[(p.name, p.sha256) for p in a_series.patches],
        pjproject_patches=[(p.name, p.sha256) for p in p_series.patches],
        compiler=compiler,
        environment=keyed_environment(os.environ),
    )
    return BuildPlan(
        spec, asterisk, pjproject, a_series, p_series, compiler, inputs, cache_key(inputs)
    )


def _patch_failure(kind: str, results: list[PatchResult]) -> PatchError:
    lines = []
    for r in results:
        if r.applies:
            continue
        for p in r.problems:
            lines.append(f"{r.name}: {p.file} hunk #{p.hunk}: {p.kind} ({p.detail})")
    return PatchError(
        f"the {kind} series does not apply exactly:\n  " + "\n  ".join(lines),
        hint="run `callctl patches check` for the failing hunks; refresh the patch",
    )


def prepare_pjproject(
    plan: BuildPlan, asterisk_tree: Path, scratch: Path, cache: Cache
) -> tuple[Path, Path, list[str]]:
    """Unpack and fix up pjproject; returns (repacked tarball, unpacked tree, fix-ups).

    The tarball is what Asterisk's build unpacks (without Asterisk's own patches, which it
    applies itself); it is cached per pjproject source sha256.
    """
    version = pjsource.bundled_version(asterisk_tree)
    unpack_dir = scratch / "pjproject"
    rmtree(unpack_dir)
    top = pjsource.unpacked_top(Path(plan.pjproject.unpack(unpack_dir)).parent, version)
    fixups = pjsource.fix_up(top)
    repack_dir = cache.downloads / "pjproject" / f"{plan.pjproject.sha256[:16]}-r{RECIPE_VERSION}"
    tarball = repack_dir / f"pjproject-{version}.tar.bz2"
    if not tarball.is_file():
        tarball = pjsource.repack(top, repack_dir, version)
    return tarball, top, fixups


def pjproject_check_tree(
    plan: BuildPlan, asterisk_tree: Path, scratch: Path, cache: Cache
) -> tuple[Path, Path, list[str]]:
    """pjproject as Asterisk's build sees it before our series: Asterisk's patches applied."""
    tarball, top, fixups = prepare_pjproject(plan, asterisk_tree, scratch, cache)
    apply_loose(top, pjsource.shipped_patches(asterisk_tree))
    return tarball, top, fixups


def check_pjproject_names(plan: BuildPlan, asterisk_tree: Path) -> None:
    shipped = [p.name for p in pjsource.shipped_patches(asterisk_tree)]
    problems = check_names(plan.pjproject_series.names, existing=shipped)
    if problems:
        raise UsageError(
            "pjproject series: " + "; ".join(problems),
            hint=f"Asterisk already ships: {', '.join(shipped)}",
        )


def _build_env(cache: Cache, scratch: Path) -> dict[str, str]:
    env = {"LC_ALL": "C"}
    if Path("/usr/lib/ccache/gcc").exists():
        # ccache keyed on relative paths, so a rebuild in another scratch tree still hits.
        env.update(
            {
                "PATH": f"/usr/lib/ccache:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "CCACHE_DIR": str(cache.ccache),
                "CCACHE_BASEDIR": str(scratch),
                "CCACHE_NOHASHDIR": "1",
                "CCACHE_MAXSIZE": "2G",
            }
        )
    return env


def build(spec: BuildSpec, cache: Cache, progress: Progress) -> BuildResult:
    progress(f"callctl build: spec {spec.name} ({spec.origin or 'inline'})")
    t0 = time.monotonic()
    pj = (
        "the bundled component of that source package"
        if spec.pjproject.kind == "debian"
        else spec.pjproject.describe()
    )
    progress(f"resolving sources: {spec.asterisk.describe()}; pjproject: {pj}")
    plan = plan_build(spec, cache)
    progress(f"cache key {plan.key}")
    # Held until the spec link points at the build: a prune (which takes the same lock)
    # never deletes a build between its publish, or a reuse's check, and that link.
    lock = cache.lock(plan.key, wait=progress)
    try:
        if cache.is_built(plan.key):
            cache.point_spec(spec.name, plan.key)
            progress(f"reusing {cache.build_dir(plan.key)} (same inputs)")
            return BuildResult(plan.key, cache.build_dir(plan.key), cache.manifest(plan.key), True)
        removed = cache.clean_interrupted()
        if removed:
            progress(f"removed scratch trees of interrupted builds: {', '.join(removed)}")
        result = _build_scratch(plan, cache, progress, t0, lock.fileno())
        cache.point_spec(spec.name, plan.key)
        return result
    finally:
        lock.close()


def _build_scratch(
    plan: BuildPlan, cache: Cache, progress: Progress, t0: float, lock_fd: int
) -> BuildResult:
    """Build in a fresh scratch tree, which is removed afterwards whatever happens."""
    scratch = cache.work / plan.key
    try:
        rmtree(scratch)
        scratch.mkdir(parents=True)
        return _build_in(plan, cache, scratch, progress, t0, lock_fd)
    except BaseException as exc:
        # A failed build leaves nothing half-done behind, but its logs are kept to read,
        # if they can be: on a full disk the step's own error is what the user must see.
        try:
            kept = _keep_logs(cache, plan.key, scratch)
        except OSError as keep_error:
            kept = None
            progress(f"could not keep the build logs: {str(keep_error)[:200]}")
        if isinstance(exc, BuildError) and exc.log_path:
            exc.log_path = str(kept / Path(exc.log_path).name) if kept else None
        raise
    finally:
        try:
            rmtree(scratch)
        except OSError as rm_error:  # never hides the build's outcome; the next build retries
            progress(f"could not remove {scratch}: {rm_error}")


def _keep_logs(cache: Cache, key: str, scratch: Path) -> Path | None:
    logs = scratch / "logs"
    if not logs.is_dir():
        return None
    dest = cache.root / "failed" / f"{key}-{time.strftime('%Y%m%dT%H%M%S')}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(logs, dest, dirs_exist_ok=True)
    except BaseException:
        with contextlib.suppress(OSError):
            rmtree(dest)  # no half copy left on a full disk
        raise
    return dest


def stage_sources(
    plan: BuildPlan, cache: Cache, scratch: Path, runner: StepRunner
) -> tuple[Path, str, str, list[str]]:
    """Steps 1-3: unpack Asterisk, apply its series exactly, check and place pjproject's.

    Returns (asterisk tree, asterisk version, pjproject version, pjproject fix-ups).
    """
    with runner.step("unpack", plan.asterisk.origin):
        tree = plan.asterisk.unpack(scratch / "src")
        asterisk_version = (
            (tree / ".version").read_text(encoding="utf-8").strip()
            if (tree / ".version").is_file()
            else "unknown"
        )
        files = [
            str(p.relative_to(tree))
            for d in menuselect.MODULE_SOURCE_DIRS
            if (tree / d).is_dir()
            for p in (tree / d).iterdir()
        ]
        menuselect.early_unknown(plan.spec.modules, menuselect.source_module_names(files))

    with runner.step("patch-asterisk", f"{len(plan.asterisk_series.patches)} patch(es)"):
        results = apply_series(tree, plan.asterisk_series.patches)
        if not all(r.applies for r in results):
            raise _patch_failure("asterisk", results)

    with runner.step("pjproject", f"{len(plan.pjproject_series.patches)} patch(es)"):
        check_pjproject_names(plan, tree)
        tarball, pj_tree, fixups = pjproject_check_tree(plan, tree, scratch, cache)
        results = apply_series(pj_tree, plan.pjproject_series.patches)
        if not all(r.applies for r in results):
            raise _patch_failure("pjproject", results)
        rmtree(pj_tree.parent)
        pj_patch_dir = tree / "third-party" / "pjproject" / "patches"
        for p in plan.pjproject_series.patches:
            (pj_patch_dir / p.name).write_bytes(p.content)
        pjsource.install_into_asterisk(tarball, tree, scratch / "dl")
        pj_version = pjsource.bundled_version(tree)

    return tree, asterisk_version, pj_version, fixups


def _build_in(
    plan: BuildPlan,
    cache: Cache,
    scratch: Path,
    progress: Progress,
    t0: float,
    lock_fd: int,
) -> BuildResult:
    runner = StepRunner(scratch / "logs", progress, len(STEPS), hold_fds=(lock_fd,))
    env = _build_env(cache, scratch)
    final = cache.build_dir(plan.key)
    prefix = final / "prefix"
    stage = scratch / "stage"
    jobs = plan.spec.jobs or (os.cpu_count() or 1) + 1

    tree, asterisk_version, pj_version, fixups = stage_sources(plan, cache, scratch, runner)

    with runner.step("configure") as log:
        args = [
            "./configure",
            f"--prefix={prefix}",
            "--with-pjproject-bundled",
            f"--with-download-cache={scratch / 'dl'}",
            *BASE_CONFIGURE_ARGS,
            *plan.spec.configure_args,
        ]
        runner.run(log, args, cwd=tree, env=env, step="configure")

    with runner.step("menuselect") as log:
        runner.run(log, ["make", "menuselect.makeopts"], cwd=tree, env=env, step="menuselect")
        tree_text = (tree / "menuselect-tree").read_text(encoding="utf-8", errors="replace")
        makeopts = (tree / "menuselect.makeopts").read_text(encoding="utf-8")
        selection = menuselect.resolve(
            plan.spec.modules,
            menuselect.parse_tree(tree_text),
            menuselect.parse_depsfailed(makeopts),
        )
        runner.run(
            log,
            [
                "menuselect/menuselect",
                *menuselect.menuselect_args(selection),
                "menuselect.makeopts",
            ],
            cwd=tree,
            env=env,
            step="menuselect",
        )
        left_out = menuselect.not_selected(
            selection, (tree / "menuselect.makeopts").read_text(encoding="utf-8")
        )
        if left_out:
            raise BuildError(
                f"menuselect would not enable: {', '.join(left_out)}",
                step="menuselect",
                log_path=str(log),
            )

    with runner.step("make", f"-j{jobs}, {len(selection.enabled)} modules") as log:
        runner.run(log, ["make", f"-j{jobs}"], cwd=tree, env=env, step="make", heartbeat=progress)

    with runner.step("install") as log:
        runner.run(log, ["make", "install", f"DESTDIR={stage}"], cwd=tree, env=env, step="install")

    staged = stage / prefix.relative_to("/")
    with runner.step("verify") as log:
        modules_dir = staged / "lib" / "asterisk" / "modules"
        installed = sorted(p.stem for p in modules_dir.glob("*.so"))
        missing = sorted(set(selection.enabled) - set(installed))
        if missing:
            raise BuildError(
                f"modules not installed: {', '.join(missing)}", step="verify", log_path=str(log)
            )
        proc = subprocess.run(
            [str(staged / "sbin" / "asterisk"), "-V"],
            capture_output=True,
            text=True,
            env={**os.environ, "LD_LIBRARY_PATH": str(staged / "lib")},
        )
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        if proc.returncode != 0 or asterisk_version not in proc.stdout:
            raise BuildError(
                "the installed asterisk -V does not run or says another version",
                step="verify",
                log_path=str(log),
                log_tail=proc.stdout + proc.stderr,
            )

    with runner.step("publish", str(final)):
        out = scratch / "out"
        out.mkdir()
        os.rename(staged, out / "prefix")
        manifest = {
            "format": MANIFEST_FORMAT,
            "key": plan.key,
            "spec": {
                "name": plan.spec.name,
                "path": str(plan.spec.origin or ""),
                **plan.spec.canonical(),
            },
            "inputs": plan.inputs,
            "sources": {
                "asterisk": {
                    "origin": plan.asterisk.origin,
                    "sha256": plan.asterisk.sha256,
                    "version": asterisk_version,
                },
                "pjproject": {
                    "origin": plan.pjproject.origin,
                    "sha256": plan.pjproject.sha256,
                    "version": pj_version,
                    "fixups": fixups,
                },
            },
            "patches": {
                "asterisk": [
                    {"name": p.name, "sha256": p.sha256, "subject": p.subject}
                    for p in plan.asterisk_series.patches
                ],
                "pjproject": [
                    {"name": p.name, "sha256": p.sha256, "subject": p.subject}
                    for p in plan.pjproject_series.patches
                ],
                "pjproject_shipped_by_asterisk": [
                    p.name
                    for p in pjsource.shipped_patches(tree)
                    if p.name not in plan.pjproject_series.names
                ],
            },
            "versions": {
                "asterisk": asterisk_version,
                "pjproject": pj_version,
                "compiler": plan.compiler,
            },
            "modules": {
                "requested": selection.requested,
                "enabled": selection.enabled,
                "added_as_dependency": selection.added_as_dependency,
                "skipped_unbuildable": selection.skipped,
                "installed": installed,
            },
            "timings": {},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
            "prefix": str(prefix),
        }
        shutil.copytree(scratch / "logs", out / "logs")
        manifest["timings"] = {**runner.timings, "total": round(time.monotonic() - t0, 2)}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        path = cache.publish(plan.key, out)
    progress(f"built {path} in {time.monotonic() - t0:.0f} s")
    return BuildResult(plan.key, path, manifest, False)
