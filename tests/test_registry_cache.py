"""The schema cache: served without loading plugins, never stale, and checking recipes exactly as
the live registry does."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

import mmzoo
from mmzoo import registry_cache
from mmzoo.errors import RecipeError, RegistryError
from mmzoo.plugins import load_registry
from mmzoo.recipe import load_recipe
from mmzoo.recipe.callables import CallableSchemas
from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.registry import factory_path
from mmzoo.registry_cache import LazyFactory, Schemas, cache_key, load_schemas
from mmzoo.typecheck import yaml_text

from .conftest import RECIPES, REPO


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(folder))
    monkeypatch.delenv("MMZOO_NO_CACHE", raising=False)
    return folder


@pytest.fixture(scope="module")
def cached() -> Schemas:
    """Schemas written by one load and read back by the next, in a folder of their own."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="mmzoo-schemas-")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_CACHE_DIR", folder)
        patch.delenv("MMZOO_NO_CACHE", raising=False)
        load_schemas()
        schemas = load_schemas()
    assert schemas.from_cache
    return schemas


def _facts(entry) -> tuple:
    options = [
        (o.name, o.type_name, o.required, None if o.required else yaml_text(o.default), o.doc) for o in entry.options
    ]
    return (
        entry.kind,
        entry.name,
        entry.plugin,
        entry.distribution,
        entry.doc,
        factory_path(entry.factory),
        options,
        entry.accepts_extra,
        entry.context_args,
        entry.docs_url,
        entry.paper,
        entry.handles_missing,
        entry.input_kinds,
    )


def test_the_second_load_comes_from_the_cache_and_equals_the_live_registry(cache, registry):
    first = load_schemas()
    assert not first.from_cache and len(list(cache.glob("schemas-*.json"))) == 1
    second = load_schemas()
    assert second.from_cache
    assert [_facts(e) for e in second.registry.entries()] == [_facts(e) for e in registry.entries()]
    assert second.registry.get("fusion", "gated").paper
    assert second.registry.get("fusion", "attention").handles_missing
    assert second.registry.get("encoder", "conv1d").context_args == ("input_spec",)
    assert second.registry.packages() == registry.packages()


def test_cached_callable_schemas_equal_the_signatures(cached, registry):
    live = CallableSchemas(registry)
    for name in ("adamw", "torch.optim.SGD"):
        assert [_option(o) for o in cached.callables.optimizer(name).options] == [
            _option(o) for o in live.optimizer(name).options
        ]
    assert [_option(o) for o in cached.callables.trainer().options] == [_option(o) for o in live.trainer().options]
    assert cached.callables.strategies().keys() == live.strategies().keys()


def _option(option) -> tuple:
    return option.name, option.type_name, option.required, None if option.required else yaml_text(option.default)


# Every kind of mistake validation reports, so that the cached schemas must report each one alike.
OVERRIDES = [
    [],
    ["model.fusion.dim=0"],
    ["model.fusion.dim=abc", "model.fusion.dropout=2"],
    ["model.fusion.dimm=3"],
    ["model.fusion={name: gated}"],
    ["model.fusion={name: nope}"],
    ["model.encoders.audio.dropout=1.5", "model.encoders.text.layers=0"],
    ["model.heads.label.num_classes=1", "objectives.label.label_smoothing=1.0"],
    ["data.batch_size=0", "data.noise=abc"],
    ["trainer.max_epochs=0", "trainer.precision=17", "trainer.accelerator=[1]", "trainer.devices=auto"],
    ["trainer.limit_val_batches=1.5", "trainer.val_check_interval=0", "trainer.nope=1", "trainer.logger=false"],
    ["trainer.strategy={name: fsdp, param_dtype: bf16, timeout_minutes: -1}", "trainer.strategy.nope=1"],
    ["trainer.strategy={name: ddp, find_unused_parameters: 1}"],
    ["model.compile={mode: 3, fullgraph: true, nope: 1}"],
    ["optimizer={name: sgd, lr: -1, momentum: 2}"],
    ["optimizer={name: torch.optim.Adafactor, eps: [null, 0.001]}"],
    ["optimizer={name: AdamW, betas: [0.9, 1.0]}", "optimizer.eps=0"],
    ["optimizer={name: nope.Optimizer}"],
    ["scheduler={name: warmup_cosine, warmup_steps: -1, interval: day}"],
    ["scheduler={name: torch.optim.lr_scheduler.StepLR, step_size: 2, gamma: 0.5, interval: epoch}"],
    ["scheduler={name: torch.optim.lr_scheduler.StepLR}"],
    ["weighting={name: uncertainty}", "transforms={audio: [{name: gain, nope: 1}]}"],
]


def _outcome(path, overrides, schemas: Schemas):
    try:
        recipe = load_recipe(path, overrides, schemas.registry, schemas.callables)
    except RecipeError as exc:
        return [(p.key, p.message, p.location) for p in exc.problems]
    return with_component_defaults(recipe, schemas.registry, schemas.callables)


@pytest.mark.parametrize("overrides", OVERRIDES, ids=lambda o: " ".join(o) or "as written")
def test_the_cache_checks_the_quickstart_as_the_live_registry_does(cached, registry, overrides):
    live = Schemas(registry, CallableSchemas(registry))
    assert _outcome(RECIPES / "quickstart.yaml", overrides, cached) == _outcome(
        RECIPES / "quickstart.yaml", overrides, live
    )


# The manifest datamodule's options are dataclasses (a modality's and a target's fields).
MANIFEST_OVERRIDES = [
    ["data.modalities.audio.optional=true"],
    ["data.modalities.audio.type=nope", "data.modalities.text.nope=1"],
    ["data.modalities.audio.sample_rate=-1", "data.targets.match.classes=3"],
    ["data.targets.match={type: class}", "data.modalities.text=[1]"],
]


@pytest.mark.parametrize("overrides", MANIFEST_OVERRIDES, ids=" ".join)
def test_the_cache_checks_manifest_fields_as_the_live_registry_does(cached, registry, overrides):
    live = Schemas(registry, CallableSchemas(registry))
    path = RECIPES / "digits" / "audio_text.yaml"
    assert _outcome(path, overrides, cached) == _outcome(path, overrides, live)


@pytest.mark.parametrize("path", sorted(RECIPES.glob("**/*.yaml")), ids=lambda p: str(p.relative_to(RECIPES)))
def test_the_cache_checks_every_shipped_recipe_as_the_live_registry_does(cached, registry, path):
    live = Schemas(registry, CallableSchemas(registry))
    outcome = _outcome(path, [], cached)
    assert isinstance(outcome, dict), outcome
    assert outcome == _outcome(path, [], live)


def test_a_cached_factory_imports_the_real_one_when_called(cached, registry):
    factory = cached.registry.get("fusion", "concat").factory
    assert isinstance(factory, LazyFactory)
    assert factory.load() is registry.get("fusion", "concat").factory
    fusion = cached.registry.get("fusion", "concat").build({"dim": 8}, {"input_dims": {"audio": 4, "text": 6}})
    assert type(fusion).__name__ == "ConcatFusion"


def _probe_registry(*registrations):
    def register(registrar):
        for name, factory in registrations:
            registrar.add(name, factory)

    plugin = types.SimpleNamespace(mmzoo_register_fusions=mmzoo.hookimpl(register))
    return load_registry(extra_plugins=[("probe", plugin)], warn=False)


def _fusion(input_dims: dict, dim: int = 8) -> None:
    """A probe fusion."""


def test_a_partial_factory_is_cached_but_not_called_by_name(tmp_path):
    registry = _probe_registry(("probe_partial", functools.partial(_fusion, dim=4)))
    path = tmp_path / "schemas.json"
    registry_cache._write(path, Schemas(registry, CallableSchemas(registry)))
    read = registry_cache._read(path)
    assert read is not None
    factory = read.registry.get("fusion", "probe_partial").factory
    assert factory_path(factory) == f"{__name__}._fusion"
    with pytest.raises(RegistryError, match="cannot be imported by name"):
        factory(input_dims={})


class _Even(type):
    """A class that holds even integers: whether it accepts a value depends on more than its type."""

    def __instancecheck__(cls, value):
        return isinstance(value, int) and value % 2 == 0


class EvenInt(metaclass=_Even):
    pass


def _even_fusion(input_dims: dict, width: EvenInt = 2) -> None:
    """A probe fusion whose option type the cache cannot write exactly."""


def test_an_option_type_the_cache_cannot_hold_exactly_writes_no_cache(tmp_path):
    registry = _probe_registry(("probe_even", _even_fusion))
    path = tmp_path / "schemas.json"
    registry_cache._write(path, Schemas(registry, CallableSchemas(registry)))
    assert not path.exists()
    plain = _probe_registry(("probe_plain", _fusion))
    registry_cache._write(path, Schemas(plain, CallableSchemas(plain)))
    assert "probe_plain" in json.loads(path.read_text())["entries"].__repr__()


def test_editing_the_package_of_a_registered_factory_invalidates_the_file(tmp_path, monkeypatch):
    package = tmp_path / "probe_parts"
    package.mkdir()
    (package / "__init__.py").write_text("def fusion(input_dims: dict, dim: int = 8) -> None:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import probe_parts

    registry = _probe_registry(("probe_part", probe_parts.fusion))
    path = tmp_path / "schemas.json"
    registry_cache._write(path, Schemas(registry, CallableSchemas(registry)))
    assert registry_cache._read(path) is not None
    (package / "__init__.py").write_text("def fusion(input_dims: dict, dim: str = 'x') -> None:\n    pass\n")
    assert registry_cache._read(path) is None


def test_the_cache_can_be_turned_off(cache, monkeypatch):
    load_schemas()
    monkeypatch.setenv("MMZOO_NO_CACHE", "1")
    assert not load_schemas().from_cache


def test_an_unwritable_cache_folder_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(blocker / "cache"))
    assert list(load_schemas().registry.entries())


def test_a_damaged_cache_file_is_replaced(cache):
    load_schemas()
    (path,) = cache.glob("schemas-*.json")
    path.write_text('{"entries": [')
    assert not load_schemas().from_cache
    assert load_schemas().from_cache


def test_disabling_a_plugin_is_another_key():
    assert cache_key([]) != cache_key(["mmzoo-fusions"]) == cache_key(["mmzoo-fusions"])


def test_editing_a_plugin_file_changes_the_key(tmp_path, monkeypatch):
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="probe", value="probe_pkg.plugin", group="mmzoo")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        registry_cache.importlib.metadata,
        "entry_points",
        lambda **kw: [*real(**kw), point] if kw.get("group") == "mmzoo" else real(**kw),
    )
    before = cache_key([])
    assert cache_key([]) == before
    (package / "plugin.py").write_text("X = 22\n")  # another size
    assert cache_key([]) != before


def test_cached_commands_import_neither_plugins_nor_torch_nor_lightning(cache):
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from mmzoo.cli.main import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            codes = [main(["plugins"]), main(["plugins", "show", "concat"]),
                     main(["recipe", "check", "recipes/quickstart.yaml"]),
                     main(["recipe", "show", "recipes/speech_qc/audio_text.yaml"])]
        heavy = [name for name in ("torch", "lightning", "mmzoo.encoders", "mmzoo.fusions") if name in sys.modules]
        print(codes, "ok" if "OK (2 encoder(s)" in out.getvalue() else "not ok", heavy)
        """
    )

    def run() -> str:
        # A fresh process each time (the test process's sys.path may hold other distributions).
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ}
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    cold = run()
    assert cold.startswith("[0, 0, 0, 0] ok") and "torch" in cold
    assert run() == "[0, 0, 0, 0] ok []"
