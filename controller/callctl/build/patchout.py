"""Reading GNU patch's output and patch files (pure).

`patch` succeeds when a hunk applies at an offset or with fuzz; callctl ships only series
that apply exactly, so both count as failures here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FILE = re.compile(r"(?:patching|checking) file '?(.+?)'?")  # fullmatch
_HUNK = re.compile(
    r"^Hunk #(\d+) (succeeded|FAILED|ignored) at (\d+)(?: \(offset (-?\d+) lines?\))?"
    r"(?: with fuzz (\d+))?"
)


@dataclass
class HunkProblem:
    file: str
    hunk: int
    kind: str  # offset | fuzz | failed | missing-file | reversed | other
    detail: str
    text: str = ""  # the hunk from the patch file, to show the user


@dataclass
class PatchResult:
    name: str
    applies: bool
    problems: list[HunkProblem] = field(default_factory=list)
    output: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "patch": self.name,
            "status": "applies" if self.applies else "fails",
            "problems": [p.__dict__ for p in self.problems],
        }


def parse_patch_output(output: str) -> list[HunkProblem]:
    problems: list[HunkProblem] = []
    current = "?"
    for line in output.splitlines():
        line = line.strip()
        m = _FILE.fullmatch(line)
        if m:
            current = m.group(1)
            continue
        m = _HUNK.match(line)
        if m:
            num, verdict, at, offset, fuzz = m.groups()
            if verdict != "succeeded":
                problems.append(HunkProblem(current, int(num), "failed", f"{verdict} at line {at}"))
            elif fuzz:
                problems.append(HunkProblem(current, int(num), "fuzz", f"needs fuzz {fuzz}"))
            elif offset:
                problems.append(
                    HunkProblem(current, int(num), "offset", f"applies {offset} lines away")
                )
            continue
        if line.startswith("can't find file to patch") or "No file to patch" in line:
            problems.append(HunkProblem(current, 0, "missing-file", line))
        elif line.startswith("Reversed (or previously applied) patch detected"):
            problems.append(HunkProblem(current, 0, "reversed", "already applied, or reversed"))
        elif "malformed patch" in line or "Only garbage was found" in line:
            problems.append(HunkProblem(current, 0, "other", line))
    return problems


def split_hunks(patch_text: str) -> dict[str, list[str]]:
    """Map each target file (as patch names it, after -p1) to its hunks' text."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    hunk: list[str] = []

    def close() -> None:
        nonlocal hunk
        if current is not None and hunk:
            current.append("\n".join(hunk))
        hunk = []

    for line in patch_text.splitlines():
        if line.startswith("+++ "):
            close()
            target = line[4:].split("\t", 1)[0].strip()
            target = target.split("/", 1)[1] if "/" in target else target
            current = files.setdefault(target, [])
        elif line.startswith("@@") and current is not None:
            close()
            hunk = [line]
        elif line.startswith("diff ") or line.startswith("--- "):
            close()
        elif hunk:
            if line[:1] in (" ", "+", "-", "\\") or line == "":
                hunk.append(line)
            else:
                close()
    close()
    return files


def attach_hunk_text(problems: list[HunkProblem], patch_text: str) -> None:
    hunks = split_hunks(patch_text)
    for p in problems:
        if p.hunk >= 1:
            texts = hunks.get(p.file, [])
            if p.hunk <= len(texts):
                p.text = texts[p.hunk - 1]
