"""Typed reads from a composed YAML node tree, reporting problems with their line and column.

The config is composed (`yaml.compose`), never constructed: node marks give every value's
position, duplicate keys stay visible (`safe_load` silently keeps the last one), and a value
is read from the text as written, so `+15551234567` or `0044...` is never turned into an int.
"""

from __future__ import annotations

from collections.abc import Collection

import yaml

from callctl import yamlsafe
from callctl.names import shown
from callctl.routing.issues import Issues

TAG_STR = "tag:yaml.org,2002:str"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset({TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL})

Entry = tuple[yaml.ScalarNode, yaml.Node]


def compose(text: str, issues: Issues) -> yaml.Node | None:
    """Parse `text` into a node tree; a syntax error is recorded (it ends parsing).

    Nesting, aliases and what they expand to are bounded (callctl.yamlsafe): past the bounds
    this is a YAML error at a line, not a RecursionError or a walk through millions of nodes.
    """
    try:
        node = yamlsafe.compose(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        issues.add(mark, "", f"YAML syntax error: {problem}")
        return None
    except yaml.reader.ReaderError as err:
        # Reader errors (e.g. a control character) carry a stream offset, not a mark.
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        char = err.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        issues.add_position(
            line, column, "", f"YAML syntax error: character {shown} is not allowed"
        )
        return None
    if node is None:
        issues.add(None, "", "the file is empty")
    return node


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == TAG_NULL:
        return "empty"
    return shown(node.value)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Reader:
    """Reads typed values from nodes; on a problem records it and returns None."""

    def __init__(self, issues: Issues) -> None:
        self.issues = issues

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> dict[str, Entry] | None:
        if not isinstance(node, yaml.MappingNode):
            self.issues.at(node, path, f"expected a mapping, found {describe(node)}")
            return None
        known = set(required) | set(optional)
        entries: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                if key_node.tag == TAG_MERGE:
                    self.issues.at(key_node, path, "merge keys (<<) are not supported")
                else:
                    self.issues.at(key_node, path, "keys must be plain words")
                continue
            key = key_node.value
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                self.issues.at(
                    key_node, join(path, key), f"duplicate key {key!r} (first at line {first})"
                )
                continue
            if key not in known:
                expected = ", ".join(sorted(known))
                self.issues.at(
                    key_node, join(path, key), f"unknown key {key!r} (expected one of: {expected})"
                )
                continue
            entries[key] = (key_node, value_node)
        for key in required:
            if key not in entries:
                self.issues.at(node, join(path, key), f"missing required key {key!r}")
        return entries

    def sequence(self, node: yaml.Node, path: str, *, allow_empty: bool = False) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.issues.at(node, path, f"expected a list, found {describe(node)}")
            return []
        if not node.value and not allow_empty:
            self.issues.at(node, path, "the list is empty")
        return list(node.value)

    def scalar(self, node: yaml.Node, path: str, what: str) -> yaml.ScalarNode | None:
        if not isinstance(node, yaml.ScalarNode):
            self.issues.at(node, path, f"expected {what}, found {describe(node)}")
            return None
        if node.tag not in _SCALAR_TAGS:
            self.issues.at(node, path, f"YAML tag {node.tag!r} is not allowed here")
            return None
        if node.tag == TAG_NULL:
            self.issues.at(node, path, f"expected {what}, found nothing")
            return None
        return node

    def text(self, node: yaml.Node, path: str, what: str = "a string") -> str | None:
        """The scalar exactly as written (quotes removed), whatever YAML would resolve it to."""
        scalar = self.scalar(node, path, what)
        return None if scalar is None else str(scalar.value)

    def integer(self, node: yaml.Node, path: str, *, minimum: int, maximum: int) -> int | None:
        what = f"a whole number from {minimum} to {maximum}"
        scalar = self.scalar(node, path, what)
        if scalar is None:
            return None
        raw = str(scalar.value)
        # Only plain decimal digits: YAML 1.1 would also read 0x1F, 0o17, 1_000 or 017.
        if scalar.style is not None or not raw.isascii() or not raw.isdigit():
            self.issues.at(node, path, f"expected {what}, found {raw!r}")
            return None
        value = int(raw)
        if not minimum <= value <= maximum:
            self.issues.at(node, path, f"expected {what}, found {value}")
            return None
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        scalar = self.scalar(node, path, "true or false")
        if scalar is None:
            return None
        raw = str(scalar.value)
        # Only true/false: YAML 1.1 also reads yes/no/on/off, a classic source of surprise.
        if scalar.style is None and raw in ("true", "false"):
            return raw == "true"
        self.issues.at(node, path, f"expected true or false, found {raw!r}")
        return None
