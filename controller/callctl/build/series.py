"""Patch series bookkeeping (pure): reading a `series` file and checking its names.

A series file lists patch files, one per line, in the order they apply; `#` starts a comment.
Asterisk applies `third-party/pjproject/patches/*.patch` in NAME order, so the series order
must equal the name order, names carry a four-digit prefix, and none may collide with a patch
Asterisk already ships there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callctl.errors import UsageError

_PATCH_NAME = re.compile(r"(\d{4})-[A-Za-z0-9][A-Za-z0-9._+-]*\.patch")  # fullmatch


@dataclass(frozen=True)
class Patch:
    """A patch as read once: the build applies these bytes, the ones its cache key hashed."""

    name: str
    path: Path
    sha256: str
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def subject(self) -> str:
        return patch_subject(self.text)


@dataclass(frozen=True)
class Series:
    kind: str  # "asterisk" or "pjproject"
    path: Path | None
    patches: tuple[Patch, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.patches]


def parse_series_text(text: str) -> list[str]:
    names = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def check_names(names: list[str], *, existing: Sequence[str] = ()) -> list[str]:
    """Problems with a series' names: bad form, duplicates, order, collisions."""
    problems = []
    for n in names:
        if "/" in n or _PATCH_NAME.fullmatch(n) is None:
            problems.append(f"{n}: name must look like NNNN-short-name.patch")
    dupes = sorted({n for n in names if names.count(n) > 1})
    problems += [f"{n}: listed twice" for n in dupes]
    if names != sorted(names):
        problems.append("series order differs from name order (" + ", ".join(names) + ")")
    prefixes = [n[:4] for n in existing if _PATCH_NAME.fullmatch(n)]
    for n in names:
        if n in existing or n[:4] in prefixes:
            problems.append(f"{n}: collides with a patch the source already ships")
    return problems


def patch_subject(text: str) -> str:
    """The `Subject:` of a format-patch file, without the `[PATCH n/m]` tag."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Subject:"):
            subject = line[len("Subject:") :].strip()
            for cont in lines[i + 1 :]:  # RFC 2822 folded header lines
                if cont.startswith((" ", "\t")):
                    subject += " " + cont.strip()
                else:
                    break
            return re.sub(r"^\[PATCH[^\]]*\]\s*", "", subject)
    return ""


def load_series(path: Path | None, kind: str, *, existing: Sequence[str] = ()) -> Series:
    if path is None:
        return Series(kind=kind, path=None, patches=())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {kind} series {path}: {exc.strerror}") from None
    names = parse_series_text(text)
    problems = check_names(names, existing=list(existing))
    patches = []
    for n in names:
        p = path.parent / n
        if not p.is_file():
            problems.append(f"{n}: listed in {path.name} but {p} does not exist")
            continue
        data = p.read_bytes()
        patches.append(Patch(name=n, path=p, sha256=hashlib.sha256(data).hexdigest(), content=data))
    if problems:
        raise UsageError(
            f"{kind} series {path} is not valid:\n  " + "\n  ".join(problems),
            hint="patch names sort in the order they apply; see patches/README.md",
        )
    return Series(kind=kind, path=path, patches=tuple(patches))
