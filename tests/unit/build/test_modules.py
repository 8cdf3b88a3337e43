import gzip

import pytest
from callctl.build import modules
from callctl.build.spec import DEFAULT_MODULES
from callctl.errors import UsageError
from callctl.paths import REPO_ROOT
from support.gateway_modules import NEEDED_MODULES

DATA = REPO_ROOT / "tests" / "data" / "menuselect"  # from Asterisk 22.10.1's configure


@pytest.fixture(scope="module")
def tree() -> dict[str, modules.Member]:
    return modules.parse_tree(gzip.decompress((DATA / "menuselect-tree.gz").read_bytes()).decode())


@pytest.fixture(scope="module")
def failed() -> set[str]:
    return modules.parse_depsfailed((DATA / "menuselect.makeopts").read_text())


def test_tree_has_dependencies(tree: dict[str, modules.Member]) -> None:
    assert "res_xmpp" in tree["chan_motif"].depends
    assert tree["chan_motif"].category == "MENUSELECT_CHANNELS"
    assert tree["res_pjsip_config_sangoma"].support_level == "external"


def test_default_set_closes_over_dependencies(
    tree: dict[str, modules.Member], failed: set[str]
) -> None:
    sel = modules.resolve(DEFAULT_MODULES, tree, failed)
    for name in NEEDED_MODULES:
        assert name in sel.enabled
    for name in sel.enabled:
        for dep in tree[name].depends:
            assert (
                dep not in tree
                or tree[dep].category not in modules.MODULE_CATEGORIES
                or dep in sel.enabled
            ), f"{name} needs {dep}"
    # Vendor downloads and members that cannot build here are never picked by a glob.
    assert "res_pjsip_config_sangoma" in sel.skipped
    assert "res_pjsip_stir_shaken" in sel.skipped
    assert len(sel.enabled) < 150  # minimal: Asterisk's default is several hundred


def test_unknown_module_suggests_a_name(tree: dict[str, modules.Member]) -> None:
    with pytest.raises(UsageError, match=r"chan_pjsipp \(did you mean chan_pjsip"):
        modules.resolve(["chan_pjsipp"], tree, set())


def test_glob_matching_nothing_is_unknown(tree: dict[str, modules.Member]) -> None:
    with pytest.raises(UsageError, match="res_nothing"):
        modules.resolve(["res_nothing*"], tree, set())


def test_explicit_unbuildable_module_is_refused(
    tree: dict[str, modules.Member], failed: set[str]
) -> None:
    with pytest.raises(UsageError, match="cannot be built"):
        modules.resolve(["res_pjsip_stir_shaken"], tree, failed)


def test_menuselect_args_disable_categories_then_enable() -> None:
    sel = modules.Selection(
        enabled=["a", "b"], requested=["a"], skipped=[], added_as_dependency=["b"]
    )
    args = modules.menuselect_args(sel)
    assert args[-4:] == ["--enable", "a", "--enable", "b"]
    assert args.count("--disable-category") == len(modules.MODULE_CATEGORIES)


def test_not_selected_reads_makeopts() -> None:
    sel = modules.Selection(
        enabled=["app_dial", "res_odbc"], requested=[], skipped=[], added_as_dependency=[]
    )
    assert modules.not_selected(sel, "MENUSELECT_RES=res_odbc res_x \nMENUSELECT_APPS=\n") == [
        "res_odbc"
    ]


def test_early_check_uses_source_file_names() -> None:
    known = modules.source_module_names(
        ["channels/chan_pjsip.c", "res/res_ari.c", "res/ari/resource_x.c", "main/pbx.c"]
    )
    assert known == {"chan_pjsip", "res_ari"}
    modules.early_unknown(["chan_pjsip", "res_ari*"], known)
    with pytest.raises(UsageError, match="chan_nope"):
        modules.early_unknown(["chan_nope"], known)
