"""The build spec: what to build, from which sources, with which patches and modules.

Pure: reads YAML text, validates it and returns frozen dataclasses. Paths in a spec are
relative to the spec file. Every error names the key it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callctl import yamlsafe
from callctl.errors import UsageError
from callctl.names import NAME_HINT, is_safe_name, shown

SOURCE_KINDS = ("debian", "tarball", "dir")
# Checked with fullmatch: "$" also matches before a trailing newline.
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9.+-]{1,63}")  # Debian policy 5.6.1

# The modules every callctl gateway needs; the spec may add to it. Globs are expanded
# against the source tree's own module list, and dependencies are added automatically.
DEFAULT_MODULES: tuple[str, ...] = (
    "chan_pjsip",
    "res_pjsip*",
    "res_pjproject",
    "res_ari*",
    "res_stasis*",
    "app_stasis",
    "res_http_websocket",
    "chan_motif",
    "res_xmpp",
    "res_rtp_asterisk",
    "res_srtp",
    "codec_ulaw",
    "codec_alaw",
    "codec_gsm",
    "format_pcm",
    "format_wav",
    "format_gsm",
    "pbx_config",
    "app_dial",
    "app_echo",
    "app_playback",
    "app_verbose",
    "app_senddtmf",
    "bridge_simple",
    "bridge_native_rtp",
    "bridge_softmix",
    "bridge_holding",
    "res_timing_timerfd",
    "res_sorcery_config",
    "res_sorcery_memory",
    "res_sorcery_astdb",
    "res_sorcery_memory_cache",
    "res_musiconhold",
    "func_callerid",
    "func_channel",
    "func_strings",
    "func_logic",
    "func_cut",
)


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # debian | tarball | dir
    package: str | None = None  # debian: source package name
    version: str | None = None  # debian: exact version (epoch included)
    url: str | None = None  # tarball
    path: Path | None = None  # tarball or dir
    sha256: str | None = None  # tarball: required

    def describe(self) -> str:
        if self.kind == "debian":
            return f"debian source {self.package}={self.version or '(newest)'}"
        if self.kind == "tarball":
            return f"tarball {self.url or self.path}"
        return f"directory {self.path}"

    def canonical(self) -> dict[str, Any]:
        # Where a source comes from does not change what is built: only its content does,
        # and that enters the cache key as a sha256. Keep just the kind here.
        return {"kind": self.kind}


@dataclass(frozen=True)
class BuildSpec:
    name: str
    asterisk: SourceSpec
    pjproject: SourceSpec
    asterisk_series: Path | None
    pjproject_series: Path | None
    modules: tuple[str, ...]
    configure_args: tuple[str, ...] = ()
    jobs: int = 0  # 0: number of cores + 1
    origin: Path | None = field(default=None, compare=False)

    def canonical(self) -> dict[str, Any]:
        """What of the spec enters the cache key (sources and patches enter by content)."""
        return {
            "asterisk": self.asterisk.canonical(),
            "pjproject": self.pjproject.canonical(),
            "modules": sorted(self.modules),
            "configure_args": list(self.configure_args),
        }


def _err(origin: Path | None, key: str, msg: str) -> UsageError:
    where = f"{origin}: " if origin else ""
    # Values are quoted in messages: never a whole hostile value.
    return UsageError(
        f"{where}{yamlsafe.clip(key, 120)}: {yamlsafe.clip(msg)}",
        hint="see specs/default.yaml for a valid spec",
    )


def _source(raw: Any, key: str, base: Path, origin: Path | None) -> SourceSpec:
    if not isinstance(raw, dict):
        raise _err(origin, key, "must be a mapping with a 'kind'")
    unknown = set(raw) - {"kind", "package", "version", "url", "path", "sha256"}
    if unknown:
        raise _err(origin, key, f"unknown key(s): {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind not in SOURCE_KINDS:
        raise _err(origin, f"{key}.kind", f"must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    path = Path(raw["path"]) if raw.get("path") is not None else None
    if path is not None and not path.is_absolute():
        path = (base / path).resolve()
    sha = raw.get("sha256")
    if kind == "debian":
        pkg = raw.get("package", "asterisk")
        if not isinstance(pkg, str) or _PACKAGE.fullmatch(pkg) is None:
            raise _err(origin, f"{key}.package", f"not a package name: {pkg!r}")
        version = raw.get("version")
        if version is not None and (not isinstance(version, str) or not version.strip()):
            raise _err(origin, f"{key}.version", "must be a version string")
        return SourceSpec(kind="debian", package=pkg, version=version)
    if kind == "tarball":
        url = raw.get("url")
        if (url is None) == (path is None):
            raise _err(origin, key, "a tarball needs exactly one of 'url' or 'path'")
        if isinstance(sha, (int, float)):
            raise _err(origin, f"{key}.sha256", "YAML read it as a number: put it in quotes")
        if not isinstance(sha, str) or _SHA256.fullmatch(sha.lower()) is None:
            raise _err(origin, f"{key}.sha256", "required for a tarball: 64 hex digits")
        return SourceSpec(kind="tarball", url=url, path=path, sha256=sha.lower())
    if path is None:
        raise _err(origin, f"{key}.path", "required for a directory source")
    return SourceSpec(kind="dir", path=path)


def parse_spec(text: str, origin: Path | None = None) -> BuildSpec:
    try:
        raw = yamlsafe.load(text)  # bounded nesting and aliases: the spec may come from anyone
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise _err(origin, "yaml", where + (exc.problem or exc.context or "invalid")) from None
    except yaml.YAMLError as exc:
        raise _err(origin, "yaml", str(exc)) from None
    if not isinstance(raw, dict):
        raise _err(origin, "spec", "must be a YAML mapping")
    known = {"name", "asterisk", "pjproject", "patches", "modules", "configure_args", "jobs"}
    unknown = set(raw) - known
    if unknown:
        raise _err(origin, "spec", f"unknown key(s): {', '.join(sorted(unknown))}")
    base = origin.parent if origin else Path.cwd()
    name = raw.get("name", "asterisk")
    if not is_safe_name(name):
        raise _err(origin, "name", f"{NAME_HINT}: {shown(name)}")
    if "asterisk" not in raw:
        raise _err(origin, "asterisk", "missing")
    asterisk = _source(raw["asterisk"], "asterisk", base, origin)
    pj_raw = raw.get("pjproject")
    if pj_raw is None:
        if asterisk.kind != "debian":
            raise _err(origin, "pjproject", "required unless asterisk comes from Debian")
        pj_raw = {"kind": "debian"}
    pjproject = _source(pj_raw, "pjproject", base, origin)
    if pjproject.kind == "debian" and asterisk.kind != "debian":
        raise _err(origin, "pjproject.kind", "'debian' is only possible with a Debian asterisk")

    patches = raw.get("patches") or {}
    if not isinstance(patches, dict) or set(patches) - {"asterisk", "pjproject"}:
        raise _err(origin, "patches", "a mapping with optional 'asterisk' and 'pjproject' series")

    def series(key: str) -> Path | None:
        value = patches.get(key)
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else (base / p).resolve()

    modules_raw = raw.get("modules", ["@default"])
    if not isinstance(modules_raw, list) or not all(isinstance(m, str) for m in modules_raw):
        raise _err(origin, "modules", "must be a list of module names or globs")
    modules: list[str] = []
    for m in modules_raw:
        if m == "@default":
            modules.extend(DEFAULT_MODULES)
        elif re.fullmatch(r"[a-z0-9_*?]+", m):
            modules.append(m)
        else:
            raise _err(origin, "modules", f"not a module name or glob: {m!r}")
    cargs = raw.get("configure_args", [])
    if not isinstance(cargs, list) or not all(isinstance(a, str) for a in cargs):
        raise _err(origin, "configure_args", "must be a list of strings")
    for a in cargs:
        if a.startswith(("--prefix", "--with-download-cache", "--with-pjproject-bundled")):
            raise _err(origin, "configure_args", f"{a.split('=')[0]} is set by callctl itself")
    jobs = raw.get("jobs", 0)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or not 0 <= jobs <= 64:
        raise _err(origin, "jobs", "an integer from 0 (auto) to 64")
    return BuildSpec(
        name=name,
        asterisk=asterisk,
        pjproject=pjproject,
        asterisk_series=series("asterisk"),
        pjproject_series=series("pjproject"),
        modules=tuple(dict.fromkeys(modules)),
        configure_args=tuple(cargs),
        jobs=jobs,
        origin=origin,
    )


def load_spec(path: Path) -> BuildSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read build spec {path}: {exc.strerror}") from None
    return parse_spec(text, origin=path.resolve())
