"""Choosing Asterisk modules with menuselect (pure).

After `./configure`, Asterisk writes `menuselect-tree` (every selectable member, its category
and `<depend>`s) and `menuselect.makeopts` (per category, the members NOT built, plus
`MENUSELECT_DEPSFAILED` for members whose external libraries are missing). From those and the
spec's names and globs we compute the closed set to build and the menuselect arguments.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field

from callctl.errors import UsageError

# Categories whose members callctl selects one by one; every other category (compiler flags,
# channel storage) keeps Asterisk's defaults.
MODULE_CATEGORIES = (
    "MENUSELECT_ADDONS",
    "MENUSELECT_APPS",
    "MENUSELECT_BRIDGES",
    "MENUSELECT_CDR",
    "MENUSELECT_CEL",
    "MENUSELECT_CHANNELS",
    "MENUSELECT_CODECS",
    "MENUSELECT_FORMATS",
    "MENUSELECT_FUNCS",
    "MENUSELECT_PBX",
    "MENUSELECT_RES",
    "MENUSELECT_TESTS",
    "MENUSELECT_UTILS",
    "MENUSELECT_AGIS",
    "MENUSELECT_CORE_SOUNDS",
    "MENUSELECT_MOH",
    "MENUSELECT_EXTRA_SOUNDS",
)

_CATEGORY = re.compile(r'<category name="([A-Z_]+)"')
_MEMBER = re.compile(r'<member name="([^"]+)"')
_DEPEND = re.compile(r"<depend(?: [^>]*)?>([^<]+)</depend>")
_SUPPORT = re.compile(r"<support_level>([^<]+)</support_level>")
_CONFLICT = re.compile(r"<conflict>([^<]+)</conflict>")
_END_MEMBER = "</member>"
# Members a glob never picks: binary downloads from a vendor, and code on its way out.
GLOB_EXCLUDED_SUPPORT = ("external", "deprecated")


@dataclass
class Member:
    name: str
    category: str
    depends: list[str] = field(default_factory=list)
    support_level: str = ""
    conflicts: list[str] = field(default_factory=list)


def parse_tree(text: str) -> dict[str, Member]:
    """Members of a `menuselect-tree`. Line based: the file is not always well-formed XML."""
    members: dict[str, Member] = {}
    category = ""
    current: Member | None = None
    for line in text.splitlines():
        m = _CATEGORY.search(line)
        if m:
            category = m.group(1)
        m = _MEMBER.search(line)
        if m:
            current = Member(m.group(1), category)
            members[current.name] = current
        if current is not None:
            current.depends += [d.strip() for d in _DEPEND.findall(line)]
            current.conflicts += [c.strip() for c in _CONFLICT.findall(line)]
            m = _SUPPORT.search(line)
            if m:
                current.support_level = m.group(1).strip()
            if _END_MEMBER in line:
                current = None
    return members


def parse_depsfailed(makeopts: str) -> set[str]:
    """Members that cannot be built here (a library or dependency is missing)."""
    failed = set()
    for line in makeopts.splitlines():
        if line.startswith("MENUSELECT_DEPSFAILED="):
            failed.add(line.rsplit("=", 1)[1].strip())
    return failed


def parse_disabled(makeopts: str) -> dict[str, set[str]]:
    disabled: dict[str, set[str]] = {}
    for line in makeopts.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in MODULE_CATEGORIES:
            disabled[key] = set(value.split())
    return disabled


@dataclass
class Selection:
    enabled: list[str]  # sorted, dependencies included
    requested: list[str]  # the spec's entries after glob expansion
    skipped: list[str]  # glob matches that cannot be built here (missing libraries)
    added_as_dependency: list[str]


def resolve(
    wanted: tuple[str, ...] | list[str], tree: dict[str, Member], depsfailed: set[str]
) -> Selection:
    selectable = {n: m for n, m in tree.items() if m.category in MODULE_CATEGORIES}
    requested: list[str] = []
    skipped: list[str] = []
    unknown: list[str] = []
    for entry in wanted:
        if any(c in entry for c in "*?["):
            matches = sorted(fnmatch.filter(selectable, entry))
            if not matches:
                unknown.append(entry)
            for name in matches:
                member = selectable[name]
                unusable = (
                    name in depsfailed
                    or member.conflicts
                    or member.support_level in GLOB_EXCLUDED_SUPPORT
                )
                (skipped if unusable else requested).append(name)
        elif entry in selectable:
            requested.append(entry)
        else:
            unknown.append(entry)
    if unknown:
        lines = []
        for u in unknown:
            close = difflib.get_close_matches(u.replace("*", ""), list(selectable), n=3)
            lines.append(f"{u}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise UsageError(
            "unknown module name(s) in the build spec: " + "; ".join(lines),
            hint="names are Asterisk module names without .so, e.g. chan_pjsip; globs allowed",
        )
    broken = sorted(n for n in requested if n in depsfailed)
    if broken:
        raise UsageError(
            "module(s) cannot be built on this machine (a library they need is missing): "
            + ", ".join(broken),
            hint="install the -dev package the module needs, or drop it from the spec",
        )
    enabled: set[str] = set()
    stack = list(dict.fromkeys(requested))
    while stack:
        name = stack.pop()
        if name in enabled:
            continue
        enabled.add(name)
        for dep in selectable[name].depends:
            if dep in selectable and dep not in enabled:
                if dep in depsfailed:
                    raise UsageError(f"{name} needs {dep}, which cannot be built here")
                stack.append(dep)
    req = sorted(set(requested))
    return Selection(
        enabled=sorted(enabled),
        requested=req,
        skipped=sorted(set(skipped)),
        added_as_dependency=sorted(enabled - set(req)),
    )


def menuselect_args(selection: Selection) -> list[str]:
    args: list[str] = []
    for cat in MODULE_CATEGORIES:
        args += ["--disable-category", cat]
    for name in selection.enabled:
        args += ["--enable", name]
    return args


def not_selected(selection: Selection, makeopts: str) -> list[str]:
    """Enabled members that menuselect nevertheless left out (it re-checks dependencies)."""
    disabled = set().union(*parse_disabled(makeopts).values()) if makeopts else set()
    return sorted(set(selection.enabled) & (disabled | parse_depsfailed(makeopts)))


MODULE_SOURCE_DIRS = (
    "addons",
    "apps",
    "bridges",
    "cdr",
    "cel",
    "channels",
    "codecs",
    "formats",
    "funcs",
    "pbx",
    "res",
    "tests",
    "utils",
)


def source_module_names(tree_files: list[str]) -> set[str]:
    """Module names guessed from a source tree's file list (before configure exists)."""
    names = set()
    for rel in tree_files:
        parts = rel.split("/")
        if len(parts) == 2 and parts[0] in MODULE_SOURCE_DIRS and parts[1].endswith((".c", ".cc")):
            names.add(parts[1].rsplit(".", 1)[0])
    return names


def early_unknown(wanted: tuple[str, ...] | list[str], known: set[str]) -> None:
    """Refuse names that cannot be modules at all, before the long configure step."""
    unknown = []
    for entry in wanted:
        if any(c in entry for c in "*?["):
            if not fnmatch.filter(known, entry):
                unknown.append(entry)
        elif entry not in known:
            unknown.append(entry)
    if unknown:
        lines = []
        for u in unknown:
            close = difflib.get_close_matches(u.replace("*", ""), sorted(known), n=3)
            lines.append(u + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise UsageError(
            "unknown module name(s) in the build spec: " + "; ".join(lines),
            hint="names are Asterisk module names without .so, e.g. chan_pjsip; globs allowed",
        )
