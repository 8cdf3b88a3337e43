"""YAML for files a user (or someone else) wrote: bounded nesting, aliases and expansion.

PyYAML composes nested collections recursively, so ~500 levels (a 1 KB file) end in a
RecursionError; aliases are cheap to write and each one is walked again by whoever reads
the tree, so a 1 MB file of aliases to aliases makes billions of nodes to validate. This
loader refuses both while composing, as YAML errors with a position (file:line:column).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

MAX_DEPTH = 64
MAX_ALIASES = 256
# Nodes as a reader that follows every alias sees them: far above any real config.
MAX_EXPANDED_NODES = 200_000


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with MAX_DEPTH nesting, MAX_ALIASES aliases, MAX_EXPANDED_NODES nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name)", mark)
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        self._depth += 1
        try:
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()
        if node is not None and expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            mark: Any = node.start_mark
            raise ComposerError(
                None, None, f"aliases expand to more than {MAX_EXPANDED_NODES} values", mark
            )
        return node


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes a full walk of `root` visits (aliases followed), stopping past `limit`.

    Each distinct node is sized once (memo by identity), so this is linear in the file. A
    node that contains itself (`&a [*a]`) is endless: limit + 1.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # Iterative post-order: no recursion, whatever the shape.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = _children(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), limit + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return limit + 1
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def compose(text: str) -> yaml.Node | None:
    """The node tree of one document (positions kept), within the bounds above."""
    node: yaml.Node | None = yaml.compose(text, Loader=BoundedLoader)
    return node


def load(text: str) -> Any:
    """Plain Python values (as yaml.safe_load), within the bounds above."""
    return yaml.load(text, Loader=BoundedLoader)


def clip(text: str, limit: int = 300) -> str:
    """A message about a value read from YAML, bounded: head and tail around an ellipsis
    (the tail often says why). Values can be megabytes long; messages quote them."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail - 5]} ... {text[-tail:]}"
