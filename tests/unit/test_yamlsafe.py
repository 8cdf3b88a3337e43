"""callctl.yamlsafe: PyYAML's safe loader with bounded nesting, aliases and expansion."""

import pytest
import yaml
from callctl import yamlsafe


def test_ordinary_yaml_loads_as_with_safe_load() -> None:
    text = "a: &x [1, {b: c}]\nd: *x\ne: 'text'\n"
    assert yamlsafe.load(text) == yaml.safe_load(text)


def test_nesting_past_the_bound_is_a_marked_error() -> None:
    ok = "[" * yamlsafe.MAX_DEPTH + "]" * yamlsafe.MAX_DEPTH
    assert yamlsafe.load(ok) is not None
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yamlsafe.load("x:\n  y: " + "[" * 600 + "]" * 600)
    assert caught.value.problem_mark is not None and caught.value.problem_mark.line == 1


def test_a_recursive_alias_counts_as_endless() -> None:
    node = yaml.compose("&a [*a]", Loader=yaml.SafeLoader)
    assert node is not None
    assert yamlsafe.expanded_size(node, 100) == 101
    with pytest.raises(yaml.MarkedYAMLError, match="aliases expand"):
        yamlsafe.load("&a [*a, *a]")


def test_expanded_size_counts_each_alias_use() -> None:
    node = yamlsafe.compose("a: &a [1, 2, 3]\nb: [*a, *a]\n")
    assert node is not None
    # mapping + 2 keys + list a (4) + list b (1 + 2 * 4)
    assert yamlsafe.expanded_size(node, 10_000) == 1 + 2 + 4 + 9


def test_clip_keeps_head_and_tail() -> None:
    assert yamlsafe.clip("short") == "short"
    clipped = yamlsafe.clip("a" * 1000 + "WHY", 100)
    assert len(clipped) <= 100 and clipped.endswith("WHY") and " ... " in clipped
