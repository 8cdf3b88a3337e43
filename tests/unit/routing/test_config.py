"""Config loading: valid configs load; every broken one is reported at its exact line:column."""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.errors import UsageError
from callctl.paths import REPO_ROOT
from callctl.routing.config import ConfigError, check_file, load_config, parse_config
from callctl.routing.issues import Issue
from callctl.routing.model import RingMode

EXAMPLE = REPO_ROOT / "specs" / "routing.example.yaml"

VALID = """\
version: 1
numbering:
  country_code: "1"
  national_prefix: "1"
trunks:
  primary: carrier-a
  fallbacks: [carrier-b]
jingle:
  endpoint: xmpp-gw
callers:
  - jid: Alice@Example.org
    caller_id: +15550104400
dids:
  - number: "+1 555 010 4400"
    jids: [alice@example.org/phone]
policy:
  allowed_destinations: ["+1"]
"""


def issues_of(text: str) -> list[tuple[int, int, str]]:
    config, issues = parse_config(text)
    assert config is None, "a broken config must not load"
    return [(i.line, i.column, i.message) for i in issues]


def lines_of(text: str) -> list[int]:
    return [line for line, _, _ in issues_of(text)]


def test_valid_config_loads_with_defaults() -> None:
    config, issues = parse_config(VALID)
    assert issues == []
    assert config is not None
    assert config.trunks == ("carrier-a", "carrier-b")
    assert config.motif_endpoint == "xmpp-gw"
    # An unquoted +1555... is read as written, not as the int YAML 1.1 would make of it.
    assert config.callers["alice@example.org"].caller_id == "+15550104400"
    assert list(config.dids) == ["+15550104400"]
    assert config.dids["+15550104400"].ring is RingMode.PARALLEL
    assert [r.name for r in config.routes] == ["default"]
    assert config.routes[0].trunks == ("carrier-a", "carrier-b")
    assert config.policy.ring_timeout == 45
    assert config.policy.max_concurrent_calls_per_caller == 2
    assert config.policy.denied == ()


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.trunks == ("carrier-a", "carrier-b")
    assert {r.name for r in config.routes} == {"uk", "nanp", "rest-of-world"}
    assert config.dids["+15550104401"].ring is RingMode.SEQUENTIAL


def test_yaml_syntax_error_names_its_line() -> None:
    text = VALID.replace("  fallbacks: [carrier-b]", "  fallbacks: [carrier-b")
    [(line, _, message)] = issues_of(text)
    # The scanner notices the unclosed list where the next key begins.
    assert message.startswith("YAML syntax error")
    assert line == 8


def test_bad_indentation_names_its_line() -> None:
    text = "version: 1\ntrunks:\n  primary: a\n    fallbacks: [b]\n"
    [(line, column, message)] = issues_of(text)
    assert (line, column) == (4, 14)
    assert "YAML syntax error" in message


def test_every_error_is_collected_with_line_and_column() -> None:
    text = """\
version: 2
numbering:
  country_code: "01"
  national_prefix_required: yes
trunks:
  primary: "carrier&evil"
  fallbacks: [carrier-b, carrier-b]
routes:
  - name: uk
    match: ["+44", "44"]
    trunks: [carrier-b, carrier-c]
jingle:
  endpoint: xmpp-gw
  transport: ice
callers:
  - jid: alice@example.org/phone
    caller_id: "555 010 4400"
policy:
  allowed_destinations: ["+1"]
  ring_timeout: 0x1F
"""
    assert issues_of(text) == [
        (1, 10, "unsupported version 2 (expected 1)"),
        (3, 17, "a country code never starts with 0"),
        (4, 29, "expected true or false, found 'yes'"),
        (
            6,
            12,
            "invalid PJSIP endpoint name 'carrier&evil': use a letter, then letters, "
            "digits, '_', '-' or '.' (at most 64)",
        ),
        (7, 26, "trunk 'carrier-b' is listed twice (first at line 7)"),
        (10, 20, "invalid pattern '44': use '+' then digits and X/Z/N wildcards, e.g. '+1900'"),
        # No "unknown trunk 'carrier-c'" on line 11: with the trunk list itself broken,
        # it would only echo the errors above.
        (14, 3, "unknown key 'transport' (expected one of: endpoint)"),
        (
            16,
            10,
            "invalid JID 'alice@example.org/phone': a caller is a bare JID "
            "(user@domain), without /resource",
        ),
        (17, 16, "write '555 010 4400' in E.164 form, with '+' and country code"),
        (20, 17, "expected a whole number from 1 to 600, found '0x1F'"),
    ]


def test_route_referencing_an_undeclared_trunk() -> None:
    text = VALID.replace(
        "jingle:",
        'routes:\n  - name: uk\n    match: ["+44"]\n    trunks: [carrier-b, carrier-c]\njingle:',
    )
    assert issues_of(text) == [
        (11, 25, "unknown trunk 'carrier-c' (declared: carrier-a, carrier-b)")
    ]


def test_issue_format_is_file_line_column() -> None:
    issue = Issue(6, 12, "trunks.primary", "bad name")
    assert issue.format("r.yaml") == "r.yaml:6:12: bad name (at trunks.primary)"


def test_duplicate_keys_are_errors_not_silently_overwritten() -> None:
    # yaml.safe_load would keep the second `primary` without a word.
    text = VALID.replace("  primary: carrier-a\n", "  primary: carrier-a\n  primary: carrier-x\n")
    assert issues_of(text) == [(7, 3, "duplicate key 'primary' (first at line 6)")]


def test_missing_required_keys_point_at_their_mapping() -> None:
    text = "version: 1\ntrunks:\n  fallbacks: [b]\npolicy: {}\n"
    assert issues_of(text) == [
        (1, 1, "missing required key 'jingle'"),
        (3, 3, "missing required key 'primary'"),
        (4, 9, "missing required key 'allowed_destinations'"),
    ]


@pytest.mark.parametrize(
    "bad_name",
    [
        '"carrier,tT"',
        '"a/b"',
        '"${EXTEN}"',
        '"car rier"',
        '"carrier\\n"',  # a YAML escape: the value holds a real newline
        '"c\u00e1rrier"',
        '"carrier(x)"',
        '"9carrier"',
    ],
)
def test_trunk_names_with_dial_string_metacharacters_are_refused(bad_name: str) -> None:
    text = VALID.replace("  fallbacks: [carrier-b]", f"  fallbacks: [carrier-b, {bad_name}]")
    [(line, column, message)] = issues_of(text)
    assert (line, column) == (7, 26)
    assert message.startswith("invalid PJSIP endpoint name")


@pytest.mark.parametrize(
    "bad_jid",
    [
        '"alice"',
        '"alice@exa mple.org"',
        '"al&ce@example.org"',
        '"alice@example.org/ph,one"',
        '"alice@example.org/${X}"',
        '"\u0430lice@example.org"',  # CYRILLIC SMALL LETTER A
        '"alice@example.org\\n"',
        '"alice@-example.org"',
    ],
)
def test_did_jids_outside_the_strict_form_are_refused(bad_jid: str) -> None:
    text = VALID.replace("    jids: [alice@example.org/phone]", f"    jids: [{bad_jid}]")
    [(line, column, message)] = issues_of(text)
    assert (line, column) == (15, 12)
    assert message.startswith("invalid JID")


def test_values_yaml_would_coerce_are_read_as_written() -> None:
    # 0044... is not octal, 1_0 is not 10, on/off/no are not booleans.
    text = VALID.replace('  country_code: "1"', "  country_code: 1_0")
    assert issues_of(text) == [(3, 17, "expected a country code of 1 to 3 digits, found '1_0'")]
    config, _ = parse_config(VALID.replace("caller_id: +15550104400", "caller_id: +1 555 010 4400"))
    assert config is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30.5", "expected a whole number from 1 to 600, found '30.5'"),
        ('"30"', "expected a whole number from 1 to 600, found '30'"),
        ("601", "expected a whole number from 1 to 600, found 601"),
        ("-1", "expected a whole number from 1 to 600, found '-1'"),
        ("", "expected a whole number from 1 to 600, found nothing"),
        ("[30]", "expected a whole number from 1 to 600, found a list"),
    ],
)
def test_integers_must_be_plain_decimal(value: str, message: str) -> None:
    text = VALID + f"  ring_timeout: {value}\n"
    [(line, _, got)] = issues_of(text)
    assert line == 18
    assert got == message


def test_zero_call_limit_is_kept() -> None:
    config, _ = parse_config(VALID + "  max_concurrent_calls_per_caller: 0\n")
    assert config is not None
    assert config.policy.max_concurrent_calls_per_caller == 0


def test_merge_keys_and_foreign_tags_are_refused() -> None:
    text = VALID.replace("jingle:\n  endpoint: xmpp-gw", "jingle:\n  <<: {endpoint: a}")
    # A missing key is reported where its mapping starts: here, at the merge key.
    assert issues_of(text) == [
        (9, 3, "merge keys (<<) are not supported"),
        (9, 3, "missing required key 'endpoint'"),
    ]
    text = VALID.replace("endpoint: xmpp-gw", "endpoint: !!python/name:os.system")
    assert issues_of(text) == [
        (9, 13, "YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed here")
    ]


def test_duplicate_dids_are_found_after_normalisation() -> None:
    text = VALID.replace(
        "policy:",
        '  - number: "+15550104400"\n    jids: [bob@example.org]\npolicy:',
    )
    assert issues_of(text) == [(16, 13, "DID +15550104400 is defined twice (first at line 14)")]


def test_repeats_are_found_even_when_the_first_entry_has_other_errors() -> None:
    text = VALID.replace(
        "dids:",
        '  - jid: alice@example.org\n    caller_id: "+1555"\n'
        "routes:\n"
        '  - {name: r, match: ["+1"]}\n'
        '  - {name: r, match: ["+44"]}\n'
        "dids:",
    )
    assert issues_of(text) == [
        (13, 10, "caller alice@example.org is defined twice (first at line 11)"),
        (14, 16, "invalid number '+1555': an E.164 number has 7 to 15 digits, this one has 4"),
        (17, 12, "route 'r' is defined twice (first at line 16)"),
    ]


def test_sequential_did_and_route_override() -> None:
    text = VALID.replace(
        "policy:",
        '  - number: "+15550104401"\n'
        "    jids: [a@example.org, b@example.org/x]\n"
        "    ring: sequential\n"
        "    ring_timeout: 10\n"
        "routes:\n"
        "  - name: uk\n"
        '    match: ["+44"]\n'
        "    trunks: [carrier-b]\n"
        "policy:",
    )
    config, issues = parse_config(text)
    assert issues == []
    assert config is not None
    did = config.dids["+15550104401"]
    assert (did.ring, did.ring_timeout, did.jids) == (
        RingMode.SEQUENTIAL,
        10,
        ("a@example.org", "b@example.org/x"),
    )
    assert config.routes[0].trunks == ("carrier-b",)


def test_ring_mode_must_be_known() -> None:
    text = VALID.replace(
        "    jids: [alice@example.org/phone]", "    jids: [alice@example.org/phone]\n    ring: all"
    )
    assert issues_of(text) == [(16, 11, "expected parallel or sequential, found 'all'")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, 1, "the file is empty")]),
        ("- a\n- b\n", [(1, 1, "expected a mapping, found a list")]),
        ("version: 1\n---\nversion: 1\n", None),
        ("version: 1\x00\n", [(1, 11, "YAML syntax error: character U+0000 is not allowed")]),
        ("version: 1\n\ttrunks: {}\n", None),
    ],
)
def test_malformed_files(text: str, expected: list[tuple[int, int, str]] | None) -> None:
    found = issues_of(text)
    if expected is None:
        # Multiple documents, tab indentation: one syntax error on line 2.
        assert len(found) == 1
        assert found[0][0] == 2
        assert found[0][2].startswith("YAML syntax error")
    else:
        assert found == expected


def test_check_file_and_load_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    assert check_file(good)[1] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("carrier-a", "carrier a"))
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.issues[0].line == 6
    assert f"{bad}:6:12:" in caught.value.message
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: 1\ntrunks:\n  primary: \xff\n")
    with pytest.raises(UsageError, match=r"binary.yaml:3: the file is not valid UTF-8"):
        load_config(binary)


def test_numbering_section_errors() -> None:
    text = VALID.replace(
        '  country_code: "1"\n  national_prefix: "1"\n',
        "  country_code: 1\n"
        '  international_prefixes: ["00", "0x", "011"]\n'
        '  national_prefix: "00"\n'
        "  national_number_lengths: [10, 3]\n",
    )
    assert issues_of(text) == [
        (4, 34, "expected a prefix of 1 to 4 digits, found '0x'"),
        (5, 20, "the national prefix equals an international prefix"),
        (6, 33, "expected a whole number from 4 to 14, found 3"),
    ]
    text = VALID.replace('  national_prefix: "1"\n', "  national_prefix_required: true\n")
    assert issues_of(text) == [(4, 29, "national_prefix_required needs a national_prefix")]


def test_numbering_section_builds_the_plan() -> None:
    text = VALID.replace(
        '  country_code: "1"\n  national_prefix: "1"\n',
        '  country_code: "44"\n'
        '  international_prefixes: ["00"]\n'
        '  national_prefix: "0"\n'
        "  national_prefix_required: true\n"
        "  national_number_lengths: [9, 10]\n",
    )
    config, issues = parse_config(text)
    assert issues == [] and config is not None
    plan = config.numbering
    assert (plan.country_code, plan.international_prefixes, plan.national_prefix) == (
        "44",
        ("00",),
        "0",
    )
    assert plan.national_prefix_required and plan.national_number_lengths == (9, 10)


def test_hotline_is_an_optional_e164_number_per_caller() -> None:
    text = VALID.replace(
        "    caller_id: +15550104400\n",
        '    caller_id: +15550104400\n    hotline: "+1 555 010 4477"\n'
        "  - jid: bob@example.org\n    caller_id: +15550104401\n",
    )
    config, issues = parse_config(text)
    assert issues == [] and config is not None
    assert config.callers["alice@example.org"].hotline == "+15550104477"
    assert config.callers["bob@example.org"].hotline is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"555 010 4477"', "write '555 010 4477' in E.164 form, with '+' and country code"),
        ('"+1555"', "invalid number '+1555': an E.164 number has 7 to 15 digits, this one has 4"),
        ("15550104477", "write '15550104477' in E.164 form, with '+' and country code"),
        ('"+1 555 010 4477;evil"', None),
    ],
)
def test_bad_hotlines_are_reported_at_their_line(value: str, message: str | None) -> None:
    text = VALID.replace(
        "    caller_id: +15550104400\n", f"    caller_id: +15550104400\n    hotline: {value}\n"
    )
    found = issues_of(text)
    assert [(line, col) for line, col, _ in found] == [(13, 14)]
    if message is not None:
        assert found[0][2] == message


# --- hostile files: bounded nesting, aliases and messages (issue 16 item 9) ---------------


def test_deep_nesting_is_a_yaml_error_at_its_line_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\ntrunks: " + "[" * 2000 + "]" * 2000 + "\n")  # 4 KB
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:2:" in caught.value.message
    assert "nested more than 64 levels deep" in caught.value.message


def test_many_aliases_of_a_long_value_are_refused_with_short_messages() -> None:
    big = "x" * 100_000
    text = f"version: 1\nbig: &v '{big}'\ntrunks:\n  primary: a\n  fallbacks: [{'*v, ' * 300}]\n"
    found = issues_of(text)
    assert any("more than 256 aliases" in m for _, _, m in found)
    assert sum(len(m) for _, _, m in found) < 10_000


def test_aliases_that_expand_to_millions_of_values_are_refused() -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("policy: {allowed_destinations: *a8}")  # 10^9 values, if walked
    found = issues_of("\n".join(lines) + "\n")
    assert [m for _, _, m in found] == [
        "YAML syntax error: aliases expand to more than 200000 values"
    ]


def test_a_long_value_is_quoted_in_part() -> None:
    found = issues_of(VALID.replace("primary: carrier-a", f"primary: '{'a b' * 300_000}'"))
    [(line, _, message)] = found
    assert line == 6 and "invalid PJSIP endpoint name" in message and len(message) <= 300
    assert message.endswith("'_', '-' or '.' (at most 64)")  # the reason survives


def test_thousands_of_problems_are_listed_up_to_a_bound() -> None:
    dids = "".join(f"  - {{number: bad{i}, jids: [a@b.c]}}\n" for i in range(5000))
    config, issues = parse_config(VALID.replace("dids:\n", "dids:\n" + dids, 1))
    assert config is None
    assert len(issues) == 1001
    assert issues[-1].message == "... and 4000 more problems not listed"
