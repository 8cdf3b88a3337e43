"""`callctl build` and `callctl patches check`."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from callctl import paths
from callctl.build.cache import Cache
from callctl.build.spec import load_spec
from callctl.cli import Console, add_json_flag
from callctl.errors import ExitStatus, UsageError

# The builder (sources, downloads, patching) is imported by the handlers that run it, so
# that every callctl command starts fast.


def register(sub: Any) -> None:
    p = sub.add_parser("build", help="build (or reuse) a patched Asterisk from a spec")
    p.add_argument(
        "--spec", type=Path, default=None, help="build spec (default: specs/default.yaml)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache directory (default: $CALLCTL_CACHE or ~/.cache/callctl)",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="parallel make jobs (default: the spec's, else cores + 1); not part of the cache key",
    )
    p.add_argument(
        "--artifact",
        type=Path,
        default=None,
        metavar="DIR",
        help="also pack the build into DIR as a deployable tarball + .sha256",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("builds", help="list finished builds in the cache")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove builds that no spec points to and no process runs from",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_builds)

    patches = sub.add_parser("patches", help="patch series tools")
    psub = patches.add_subparsers(dest="patches_command", metavar="ACTION")
    psub.required = True
    p = psub.add_parser("check", help="dry-run both series against the spec's sources")
    p.add_argument("--spec", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=None)
    add_json_flag(p)
    p.set_defaults(func=cmd_patches_check)


def _cache(args: argparse.Namespace) -> Cache:
    return Cache(args.cache or paths.cache_dir())


def cmd_build(args: argparse.Namespace, console: Console) -> int:
    import dataclasses

    from callctl.build import artifact
    from callctl.build.builder import build

    spec = load_spec(args.spec or paths.default_spec())
    if args.jobs is not None:
        if not 1 <= args.jobs <= 64:
            raise UsageError(f"--jobs must be from 1 to 64, got {args.jobs}")
        spec = dataclasses.replace(spec, jobs=args.jobs)
    result = build(spec, _cache(args), console.progress)
    art = artifact.pack(result.path, args.artifact, console.progress) if args.artifact else None
    if console.json:
        console.emit_json(
            "build",
            {
                "key": result.key,
                "path": str(result.path),
                "prefix": str(result.prefix),
                "reused": result.reused,
                "manifest": result.manifest,
                "artifact": art.as_dict() if art else None,
            },
        )
    else:
        m = result.manifest
        console.result(f"{'reused' if result.reused else 'built'}: {result.path}")
        console.result(
            f"asterisk {m['versions']['asterisk']}, pjproject "
            f"{m['versions']['pjproject']}, {len(m['modules']['installed'])} modules"
        )
        for kind in ("asterisk", "pjproject"):
            names = [p["name"] for p in m["patches"][kind]]
            console.result(f"{kind} patches: {', '.join(names) if names else '(none)'}")
        if art:
            console.result(f"artifact: {art.path} (sha256 {art.sha256})")
    return ExitStatus.OK


def cmd_builds(args: argparse.Namespace, console: Console) -> int:
    cache = _cache(args)
    if args.prune:
        removed = cache.prune()
        if console.json:
            console.emit_json("builds-prune", {"removed": removed})
        else:
            console.result(
                f"removed {len(removed)} build(s)" + (f": {', '.join(removed)}" if removed else "")
            )
        return ExitStatus.OK
    links = cache.spec_links()
    rows = []
    for key in cache.list_builds():
        m = cache.manifest(key)
        rows.append(
            {
                "key": key,
                "spec": m["spec"]["name"],
                "asterisk": m["versions"]["asterisk"],
                "built_at": m["built_at"],
                "path": str(cache.build_dir(key)),
                "newest_of": sorted(n for n, k in links.items() if k == key),
                "patches": [p["name"] for k in ("asterisk", "pjproject") for p in m["patches"][k]],
            }
        )
    if console.json:
        console.emit_json("builds", {"builds": rows})
    elif not rows:
        console.result(f"no builds in {cache.builds}")
    else:
        for r in rows:
            newest = f"  newest of {', '.join(r['newest_of'])}" if r["newest_of"] else ""
            console.result(
                f"{r['key']}  {r['spec']:<20} asterisk {r['asterisk']:<10} "
                f"{r['built_at']}  {len(r['patches'])} patches{newest}"
            )
    return ExitStatus.OK


def cmd_patches_check(args: argparse.Namespace, console: Console) -> int:
    from callctl.build.builder import (
        check_pjproject_names,
        pjproject_check_tree,
        plan_build,
    )
    from callctl.build.patching import apply_series

    spec = load_spec(args.spec or paths.default_spec())
    cache = _cache(args)
    plan = plan_build(spec, cache)
    report: dict[str, list[dict[str, object]]] = {}
    work = Path(tempfile.mkdtemp(prefix="check-", dir=_mkdir(cache.work)))
    try:
        console.progress(f"unpacking {plan.asterisk.origin}")
        tree = plan.asterisk.unpack(work / "src")
        report["asterisk"] = [r.as_dict() for r in apply_series(tree, plan.asterisk_series.patches)]
        check_pjproject_names(plan, tree)
        console.progress(f"unpacking {plan.pjproject.origin}")
        _, pj_tree, _ = pjproject_check_tree(plan, tree, work, cache)
        report["pjproject"] = [
            r.as_dict() for r in apply_series(pj_tree, plan.pjproject_series.patches)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = all(r["status"] == "applies" for rs in report.values() for r in rs)
    if console.json:
        console.emit_json("patches-check", {"ok": ok, "series": report})
    else:
        for kind, results in report.items():
            console.result(f"{kind} series ({len(results)} patches):")
            for r in results:
                console.result(f"  {r['status']:<8} {r['patch']}")
                for p in r["problems"]:  # type: ignore[attr-defined]
                    console.result(
                        f"           {p['file']} hunk #{p['hunk']}: {p['kind']} ({p['detail']})"
                    )
                    for line in str(p["text"]).splitlines()[:40]:
                        console.result(f"           | {line}")
        console.result("all patches apply exactly" if ok else "some patches do not apply exactly")
    return ExitStatus.OK if ok else ExitStatus.PATCH


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
