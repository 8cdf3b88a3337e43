"""Config problems with their source position, collected rather than raised one at a time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from callctl.yamlsafe import clip

# A message quotes the value it is about; a hostile file's values can be megabytes long.
MAX_MESSAGE = 300
MAX_PATH = 120
# `config check` lists every problem, up to this many (then says how many more there were).
MAX_ISSUES = 1000


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a config file. `line` and `column` are 1-based, as editors show them."""

    line: int
    column: int
    path: str
    message: str

    def format(self, filename: str) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{filename}:{self.line}:{self.column}: {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # every field as it is: line, column, path, message


@dataclass
class Issues:
    """Accumulates issues; validators keep going after each one so a user sees them all."""

    items: list[Issue] = field(default_factory=list)
    dropped: int = 0

    def add(self, mark: yaml.Mark | None, path: str, message: str) -> None:
        # yaml marks are 0-based; a missing mark can only mean "the whole file".
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        self.add_position(line, column, path, message)

    def add_position(self, line: int, column: int, path: str, message: str) -> None:
        if len(self.items) >= MAX_ISSUES:
            self.dropped += 1
            return
        self.items.append(Issue(line, column, clip(path, MAX_PATH), clip(message, MAX_MESSAGE)))

    def at(self, node: yaml.Node, path: str, message: str) -> None:
        self.add(node.start_mark, path, message)

    def sorted(self) -> list[Issue]:
        listed = sorted(self.items)
        if self.dropped:
            last = listed[-1]
            listed.append(
                Issue(
                    last.line, last.column, "", f"... and {self.dropped} more problems not listed"
                )
            )
        return listed

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items) + self.dropped
