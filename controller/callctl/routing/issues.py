"""Config problems with their source position, collected rather than raised one at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


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
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


@dataclass
class Issues:
    """Accumulates issues; validators keep going after each one so a user sees them all."""

    items: list[Issue] = field(default_factory=list)

    def add(self, mark: yaml.Mark | None, path: str, message: str) -> None:
        # yaml marks are 0-based; a missing mark can only mean "the whole file".
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        self.items.append(Issue(line, column, path, message))

    def add_position(self, line: int, column: int, path: str, message: str) -> None:
        self.items.append(Issue(line, column, path, message))

    def at(self, node: yaml.Node, path: str, message: str) -> None:
        self.add(node.start_mark, path, message)

    def sorted(self) -> list[Issue]:
        return sorted(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)
