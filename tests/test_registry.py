"""Registry behaviour with in-test plugins registered on a fresh manager."""

from __future__ import annotations

import types
import warnings
from typing import Literal

import pytest

import mmzoo
from mmzoo.errors import DuplicateComponentError, UnknownComponentError
from mmzoo.plugins import DISABLE_ENV, PluginWarning, load_registry
from mmzoo.registry import REQUIRED


class Widget:
    """A widget fusion used in tests.

    Args:
        size: how big.
        mode: how it combines.
    """

    def __init__(self, input_dims: dict, size: int, mode: Literal["a", "b"] = "a", scale: float = 1.0) -> None:
        self.args = (input_dims, size, mode, scale)


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: mmzoo.hookimpl(fn) for name, fn in hooks.items()})


def _widget_plugin(name: str = "widget"):
    return _plugin(mmzoo_register_fusions=lambda registrar: registrar.add(name, Widget))


def test_entry_knows_origin_schema_and_doc():
    registry = load_registry(entrypoints=False, extra_plugins=[("test-plugin", _widget_plugin())])
    entry = registry.get("fusion", "widget")
    assert (entry.kind, entry.plugin, entry.distribution) == ("fusion", "test-plugin", None)
    assert entry.doc == "A widget fusion used in tests."
    assert [o.name for o in entry.options] == ["size", "mode", "scale"]
    assert entry.option("size").default is REQUIRED
    assert entry.option("mode").doc == "how it combines."
    assert entry.option("mode").type_name == "'a' | 'b'"
    assert entry.context_args == ("input_dims",)


def test_builtins_come_from_the_mmzoo_distribution(registry):
    entry = registry.get("encoder", "conv1d")
    assert entry.plugin == "mmzoo-encoders"
    assert entry.distribution.startswith("mmzoo ")


def test_check_options_reports_every_problem():
    registry = load_registry(entrypoints=False, extra_plugins=[("p", _widget_plugin())])
    problems = dict(registry.get("fusion", "widget").check_options({"mode": "c", "scal": 2.0}))
    assert "did you mean 'scale'" in problems["scal"]
    assert "expected 'a' | 'b'" in problems["mode"]
    assert "missing required option" in problems["size"]


def test_build_passes_only_accepted_context():
    registry = load_registry(entrypoints=False, extra_plugins=[("p", _widget_plugin())])
    built = registry.get("fusion", "widget").build({"size": 2}, {"input_dims": {"a": 1}, "in_dim": 5})
    assert built.args == ({"a": 1}, 2, "a", 1.0)


def test_duplicate_names_are_an_error_naming_both_plugins():
    with pytest.raises(DuplicateComponentError) as info:
        load_registry(entrypoints=False, extra_plugins=[("first", _widget_plugin()), ("second", _widget_plugin())])
    assert "'first'" in info.value.message and "'second'" in info.value.message


def test_unknown_name_suggests_close_match(registry):
    with pytest.raises(UnknownComponentError, match=r"unknown fusion 'concta' \(did you mean 'concat'\?\)"):
        registry.get("fusion", "concta")


def test_failing_hook_costs_only_its_plugin():
    def explode(registrar):
        registrar.add("half_done", Widget)
        raise RuntimeError("boom")

    with pytest.warns(PluginWarning, match=r"plugin 'bad'.*RuntimeError: boom"):
        registry = load_registry(
            entrypoints=False,
            extra_plugins=[("bad", _plugin(mmzoo_register_fusions=explode)), ("good", _widget_plugin())],
        )
    assert registry.names("fusion") == ["widget"]
    assert "bad" in registry.failed_plugins
    with pytest.raises(UnknownComponentError, match="failed to load and may provide it: 'bad'"):
        registry.get("fusion", "half_done")


def test_invalid_name_marks_plugin_failed():
    plugin = _plugin(mmzoo_register_fusions=lambda registrar: registrar.add("Bad-Name", Widget))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry = load_registry(entrypoints=False, extra_plugins=[("p", plugin)])
    assert "invalid name" in registry.failed_plugins["p"]


def test_reserved_option_names_are_refused():
    def factory(name: str, input_dims: dict) -> None: ...

    plugin = _plugin(mmzoo_register_fusions=lambda registrar: registrar.add("named", factory))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry = load_registry(entrypoints=False, extra_plugins=[("p", plugin)])
    assert "recipes use for themselves" in registry.failed_plugins["p"]


def test_misspelt_hook_is_reported_and_the_plugin_skipped():
    plugin = _plugin(mmzoo_register_fusion=lambda registrar: None, mmzoo_register_encoders=lambda registrar: None)
    with pytest.warns(PluginWarning, match="plugin 'typo'.*mmzoo_register_fusion"):
        registry = load_registry(entrypoints=False, extra_plugins=[("typo", plugin), ("good", _widget_plugin())])
    assert "typo" in registry.failed_plugins
    assert registry.names("fusion") == ["widget"]


def test_disable_env_blocks_plugins(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "mmzoo-fusions, other")
    registry = load_registry()
    assert registry.names("fusion") == []
    assert registry.names("encoder")  # other built-ins still load
    assert registry.disabled_plugins == ["mmzoo-fusions"]
    with pytest.raises(UnknownComponentError, match="disabled by MMZOO_DISABLE_PLUGINS: mmzoo-fusions"):
        registry.get("fusion", "concat")


def test_each_call_builds_a_fresh_registry():
    first = load_registry(entrypoints=False, extra_plugins=[("p", _widget_plugin())])
    second = load_registry(entrypoints=False)
    assert "widget" in first.names("fusion") and "widget" not in second.names("fusion")


def test_a_plugin_registering_a_name_twice_fails_alone():
    def twice(registrar):
        registrar.add("widget", Widget)
        registrar.add("widget", Widget)

    with pytest.warns(PluginWarning, match="registered fusion 'widget' twice"):
        registry = load_registry(entrypoints=False, extra_plugins=[("twice", _plugin(mmzoo_register_fusions=twice))])
    assert registry.names("fusion") == []
    assert "twice" in registry.failed_plugins


def test_hookimpl_with_wrong_argument_is_explained():
    plugin = _plugin(mmzoo_register_encoders=lambda reg: None)
    with pytest.warns(PluginWarning, match=r"Argument\(s\) \{'reg'\} are declared in the hookimpl"):
        registry = load_registry(entrypoints=False, extra_plugins=[("wrongarg", plugin)])
    assert "wrongarg" in registry.failed_plugins
