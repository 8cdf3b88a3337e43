from pathlib import Path

import pytest
from callctl.build.spec import DEFAULT_MODULES, load_spec, parse_spec
from callctl.errors import UsageError
from callctl.paths import REPO_ROOT

REPO = REPO_ROOT
SHA = "a" * 64


def test_default_spec_is_valid_and_uses_the_repo_series() -> None:
    spec = load_spec(REPO / "specs" / "default.yaml")
    assert spec.asterisk.kind == "debian" and spec.asterisk.version
    assert spec.asterisk_series == REPO / "patches" / "asterisk" / "series"
    assert spec.pjproject_series == REPO / "patches" / "pjproject" / "series"
    assert spec.modules == DEFAULT_MODULES


def test_stock_spec_differs_only_by_series() -> None:
    default = load_spec(REPO / "specs" / "default.yaml")
    stock = load_spec(REPO / "specs" / "stock.yaml")
    assert default.canonical() == stock.canonical()
    assert stock.asterisk_series is None and stock.pjproject_series is None


def test_tarball_requires_sha256() -> None:
    with pytest.raises(UsageError, match=r"asterisk.sha256"):
        parse_spec(
            "asterisk: {kind: tarball, path: /x.tar.gz}\n"
            f"pjproject: {{kind: tarball, path: /y.tar.gz, sha256: {SHA}}}"
        )


def test_tarball_needs_exactly_one_of_url_and_path() -> None:
    with pytest.raises(UsageError, match="exactly one"):
        parse_spec(f"asterisk: {{kind: tarball, path: /x, url: http://h/x, sha256: {SHA}}}")


def test_unquoted_numeric_sha256_gets_a_hint() -> None:
    with pytest.raises(UsageError, match="put it in quotes"):
        parse_spec(f"asterisk: {{kind: tarball, path: /x, sha256: {'1' * 64}}}")


def test_relative_paths_resolve_against_the_spec_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "sub" / "s.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(
        f"asterisk: {{kind: tarball, path: a.tgz, sha256: {SHA.upper()}}}\n"
        f"pjproject: {{kind: dir, path: ../pj}}\n"
        "patches: {asterisk: ../p/series}\n"
    )
    spec = load_spec(spec_file)
    assert spec.asterisk.path == tmp_path / "sub" / "a.tgz"
    assert spec.asterisk.sha256 == SHA  # normalised to lower case
    assert spec.pjproject.path == tmp_path / "pj"
    assert spec.asterisk_series == tmp_path / "p" / "series"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "mapping"),
        ("asterisk: {kind: git}", "must be one of"),
        ("asterisk: {kind: debian}\nbogus: 1", "unknown key"),
        ("asterisk: {kind: dir}", "asterisk.path"),
        ("asterisk: {kind: dir, path: /a}", "pjproject: required"),
        ("asterisk: {kind: dir, path: /a}\npjproject: {kind: debian}", "only possible"),
        ("asterisk: {kind: debian}\nmodules: [chan_pjsip, 'x;rm']", "not a module"),
        ("asterisk: {kind: debian}\nconfigure_args: ['--prefix=/usr']", "set by callctl"),
        ("asterisk: {kind: debian}\njobs: -1", "jobs"),
        ("asterisk: {kind: debian}\nname: 'a b'", "name"),
        # A trailing newline passed "^...$" with re.match: names are matched whole.
        ('asterisk: {kind: debian}\nname: "stock\\n"', "name"),
        ('asterisk: {kind: debian}\nname: "../../x"', "name"),
        ('asterisk: {kind: debian, package: "asterisk\\n"}', "asterisk.package"),
        (f'asterisk: {{kind: tarball, path: /a, sha256: "{"0" * 64}\\n"}}', "sha256"),
        ("asterisk: [unclosed", "yaml"),
    ],
)
def test_bad_specs_name_the_key(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_spec(text)


def test_missing_spec_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read build spec"):
        load_spec(tmp_path / "nope.yaml")


def test_default_module_marker_expands_and_dedupes() -> None:
    spec = parse_spec("asterisk: {kind: debian}\nmodules: ['@default', chan_pjsip, app_queue]")
    assert spec.modules[: len(DEFAULT_MODULES)] == DEFAULT_MODULES
    assert spec.modules[-1] == "app_queue"
    assert spec.modules.count("chan_pjsip") == 1


def test_deeply_nested_spec_is_a_usage_error_with_a_line() -> None:
    # PyYAML composes recursively: ~500 levels ended in a RecursionError ("internal error").
    with pytest.raises(UsageError, match=r"line 2.*nested more than"):
        parse_spec("name: x\nasterisk: " + "[" * 2000 + "]" * 2000)


def test_alias_bomb_in_a_spec_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(UsageError, match="aliases expand"):
        parse_spec("\n".join(lines) + "\nasterisk: {kind: debian}\nmodules: *a8\n")


def test_long_values_are_quoted_in_part() -> None:
    with pytest.raises(UsageError) as caught:
        parse_spec(f"asterisk: {{kind: '{'k' * 1_000_000}'}}")
    assert len(caught.value.message) < 400
