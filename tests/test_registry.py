"""Registry behaviour with in-test plugins registered on a fresh manager."""

from __future__ import annotations

import functools
import types
import warnings
from typing import Literal

import pytest

import mmzoo
from mmzoo.errors import DuplicateComponentError, UnknownComponentError
from mmzoo.plugins import DISABLE_ENV, PluginWarning, load_registry
from mmzoo.registry import REQUIRED, _where


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


def test_a_component_can_name_its_docs_and_paper():
    plugin = _plugin(
        mmzoo_register_fusions=lambda registrar: registrar.add(
            "widget", Widget, docs_url="https://example.org/widget", paper="Doe et al., Widgets, 2031"
        )
    )
    entry = load_registry(entrypoints=False, extra_plugins=[("p", plugin)]).get("fusion", "widget")
    assert (entry.docs_url, entry.paper) == ("https://example.org/widget", "Doe et al., Widgets, 2031")
    plain = load_registry(entrypoints=False, extra_plugins=[("p", _widget_plugin())]).get("fusion", "widget")
    assert (plain.docs_url, plain.paper) == (None, None)


@pytest.mark.parametrize("keyword", ["doc", "docs_url", "paper"])
def test_descriptions_must_be_text(keyword):
    registry = _load_quietly(_register(("described", Widget, {keyword: 42})))
    assert ("fusion", "described") not in registry
    assert f"{keyword}=42 is not a non-empty string" in registry.failed_components[("fusion", "described")]


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
    with pytest.raises(UnknownComponentError, match=r"may provide it: 'bad' \(failed to load: "):
        registry.get("fusion", "half_done")


def _load_quietly(plugin) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        return load_registry(entrypoints=False, extra_plugins=[("p", plugin)])


def _register(*components):
    """A plugin registering ``(name, factory, keywords)`` fusions, then the valid ``widget``."""

    def hook(registrar):
        for name, factory, keywords in components:
            registrar.add(name, factory, **keywords)
        registrar.add("widget", Widget)

    return _plugin(mmzoo_register_fusions=hook)


def test_invalid_name_skips_that_component_only():
    registry = _load_quietly(_register(("Bad-Name", Widget, {})))
    assert "the name 'Bad-Name' is invalid" in registry.failed_components[("fusion", "Bad-Name")]
    assert registry.names("fusion") == ["widget"] and not registry.failed_plugins


def test_reserved_option_names_are_refused():
    def factory(name: str, input_dims: dict) -> None: ...

    registry = _load_quietly(_register(("named", factory, {})))
    assert "keys recipes use for themselves" in registry.failed_components[("fusion", "named")]
    assert registry.names("fusion") == ["widget"]


def gamma_in_words(input_dims: dict, gamma: float = "two") -> None:  # type: ignore[assignment]
    """A fusion whose default does not fit its annotation."""


def gamma_untyped(input_dims: dict, gamma=2.0) -> None:
    """A fusion with an option and no annotation."""


def gamma_none(input_dims: dict, gamma: float = None) -> None:  # type: ignore[assignment]
    """A fusion whose None default is not in its type."""


def gamma_tuple(input_dims: dict, sizes: tuple[int, ...] = (1, 2), act: type = object) -> None:
    """Defaults in their Python form: a tuple for a sequence, an object YAML cannot write."""


@pytest.mark.parametrize(
    "factory, expected",
    [
        (gamma_in_words, "the default of option 'gamma' does not fit its type float: expected float, got the string 'two'"),
        (gamma_untyped, "option 'gamma' has no type annotation"),
        (gamma_none, "annotate it `... | None`"),
    ],
)
def test_option_declarations_are_checked_at_registration(factory, expected):
    """The mistake is the component's alone: named with the plugin and its file:line; the rest loads."""
    with pytest.warns(PluginWarning, match=r"fusion 'odd' is skipped: plugin 'p', .*test_registry\.py:\d+: "):
        registry = load_registry(entrypoints=False, extra_plugins=[("p", _register(("odd", factory, {})))])
    why = registry.failed_components[("fusion", "odd")]
    assert expected in why
    assert registry.names("fusion") == ["widget"] and not registry.failed_plugins
    with pytest.raises(UnknownComponentError, match=r"fusion 'odd' was not registered: plugin 'p'"):
        registry.get("fusion", "odd")


def test_defaults_are_compared_in_their_yaml_form():
    registry = _load_quietly(_register(("fine", gamma_tuple, {})))
    assert ("fusion", "fine") in registry and not registry.failed_components


def test_a_partial_has_the_options_of_what_it_wraps():
    """Types and descriptions come from the wrapped class; an argument bound by keyword stays an
    option with the bound value as its default, and arguments bound by position are no options."""
    keyword = functools.partial(Widget, mode="b")
    positional = functools.partial(Widget, {"audio": 4}, 3)
    registry = _load_quietly(
        _register(("keyword", keyword, {"doc": "A b widget."}), ("positional", positional, {"doc": "A sized widget."}))
    )
    assert not registry.failed_components
    entry = registry.get("fusion", "keyword")
    assert [o.name for o in entry.options] == ["size", "mode", "scale"] and entry.context_args == ("input_dims",)
    assert entry.option("size").default is REQUIRED and entry.option("size").type_name == "int"
    assert (entry.option("mode").type_name, entry.option("mode").default) == ("'a' | 'b'", "b")
    assert entry.option("mode").doc == "how it combines."
    assert entry.build({"size": 2}, {"input_dims": {"audio": 4}}).args == ({"audio": 4}, 2, "b", 1.0)
    sized = registry.get("fusion", "positional")
    assert [o.name for o in sized.options] == ["mode", "scale"] and sized.context_args == ()
    assert sized.build({"scale": 0.5}, {"input_dims": {"text": 1}}).args == ({"audio": 4}, 3, "a", 0.5)
    assert _where(keyword) == _where(Widget) and "test_registry.py:" in _where(positional)


def test_a_partial_keeps_the_declarations_of_what_it_wraps():
    class Missing(Widget):
        """A widget that handles missing modalities."""

        handles_missing = True

    registry = _load_quietly(_register(("missing", functools.partial(Missing, mode="b"), {})))
    entry = registry.get("fusion", "missing")
    assert entry.handles_missing and entry.doc == "A widget that handles missing modalities."


def test_every_builtin_declares_its_options_correctly(registry):
    assert registry.failed_components == {} and registry.failed_plugins == {}


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
    with pytest.raises(UnknownComponentError, match=r"'mmzoo-fusions' \(disabled by MMZOO_DISABLE_PLUGINS\)"):
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
