"""`mmzoo recipe show`: the resolved recipe, every component's defaults included, as
`mmzoo.recipe.defaults.with_component_defaults` gives it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mmzoo.cli.main import EXIT_OK, EXIT_USER, main
from mmzoo.recipe import load_recipe
from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.recipe.schema import SECTIONS

from ..conftest import RECIPES, TINY_RECIPE


def show(capsys, *args: str) -> dict:
    assert main(["recipe", "show", *args]) == EXIT_OK
    return yaml.safe_load(capsys.readouterr().out)


def test_show_spells_out_component_defaults(capsys, tiny_recipe):
    shown = show(capsys, str(tiny_recipe))
    assert shown["model"]["fusion"] == {"name": "concat", "dim": 16, "hidden_dim": 32, "dropout": 0.1}
    assert shown["model"]["encoders"]["audio"]["kernel_size"] == 5  # conv1d's default
    assert shown["model"]["encoders"]["audio"]["freeze"] is False
    assert shown["objectives"]["label"]["metrics"] == ["accuracy", "macro_f1"]
    assert shown["weighting"] == {"name": "fixed"}
    assert shown["optimizer"]["weight_decay"] == 0.01  # AdamW's default
    assert shown["checkpoint"]["monitor"] == "val/loss"


def test_show_a_swapped_component_with_its_own_defaults(capsys):
    shown = show(capsys, str(RECIPES / "quickstart.yaml"), "model.fusion.name=gated")
    assert shown["model"]["fusion"] == {"name": "gated", "dim": 128, "per_feature": True, "dropout": 0.0}


def test_show_reports_the_problems_of_an_override(capsys):
    assert (
        main(["recipe", "show", str(RECIPES / "quickstart.yaml"), "model.fusion.name=gated", "model.fusion.rank=2"])
        == EXIT_USER
    )
    err = capsys.readouterr().err
    assert "command line (model.fusion.rank=2): model.fusion.rank: unknown option for fusion 'gated'" in err


# -- with_component_defaults ------------------------------------------------------------------------

SHIPPED = sorted(p for p in RECIPES.rglob("*.yaml") if "data" not in p.relative_to(RECIPES).parts)


def tiny(tmp_path: Path, registry, overrides=(), extra: str = ""):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_RECIPE.format(root=tmp_path / "runs") + extra)
    return load_recipe(path, list(overrides), registry)


def test_every_option_of_every_component_is_listed(tmp_path, registry):
    recipe = tiny(tmp_path, registry)
    full = with_component_defaults(recipe, registry)
    for spec, block in [
        (recipe.datamodule, full["data"]),
        (recipe.encoders["audio"], full["model"]["encoders"]["audio"]),
        (recipe.fusion, full["model"]["fusion"]),
        (recipe.heads["label"], full["model"]["heads"]["label"]),
        (recipe.objectives["label"], full["objectives"]["label"]),
    ]:
        entry = registry.get(spec.kind, spec.name)
        assert [o.name for o in entry.options] == [k for k in block if k in {o.name for o in entry.options}]
        for option in entry.options:
            expected = spec.options[option.name] if option.name in spec.options else option.default
            assert block[option.name] == (list(expected) if isinstance(expected, tuple) else expected)


def test_set_values_win_and_defaults_fill_the_rest(tmp_path, registry):
    full = with_component_defaults(tiny(tmp_path, registry), registry)
    assert full["model"]["fusion"] == {"name": "concat", "dim": 16, "hidden_dim": 32, "dropout": 0.1}
    assert full["model"]["encoders"]["text"] == {
        "name": "bag",
        "dim": 16,
        "dropout": 0.0,
        "freeze": False,
        "train_last": None,
        "project_dim": None,
        "lora": None,
        "gradient_checkpointing": False,
    }
    assert list(full["objectives"]["label"])[:3] == ["name", "head", "target"]
    assert full["objectives"]["label"]["weight"] == 1.0


def test_sections_the_recipe_leaves_out_show_what_validation_chose(tmp_path, registry):
    full = with_component_defaults(tiny(tmp_path, registry), registry)
    assert full["weighting"] == {"name": "fixed"}
    assert full["optimizer"]["name"] == "adamw" and full["optimizer"]["lr"] == 0.003
    assert full["optimizer"]["betas"] == [0.9, 0.999]  # a tuple default, written as a list
    assert "scheduler" not in full
    assert list(full) == [section for section in SECTIONS if section in full]


def test_a_recipe_without_optimizer_shows_the_default_one(tmp_path, registry):
    path = tmp_path / "no_optimizer.yaml"
    path.write_text(TINY_RECIPE.format(root=tmp_path / "runs").replace("optimizer: {name: adamw, lr: 0.003}\n", ""))
    full = with_component_defaults(load_recipe(path, [], registry), registry)
    assert full["optimizer"]["name"] == "adamw" and full["optimizer"]["lr"] == 1e-3
    assert list(full).index("optimizer") == list(full).index("weighting") + 1


def test_transforms_and_schedulers_are_filled(tmp_path, registry):
    extra = "transforms:\n  audio:\n    - {name: normalize}\nscheduler: {name: torch.optim.lr_scheduler.StepLR, step_size: 2}\n"
    full = with_component_defaults(tiny(tmp_path, registry, extra=extra), registry)
    (normalize,) = full["transforms"]["audio"]
    assert normalize["name"] == "normalize" and normalize["train_only"] is False
    assert set(normalize) > {"name", "train_only"}
    assert full["scheduler"] == {
        "name": "torch.optim.lr_scheduler.StepLR",
        "step_size": 2,
        "gamma": 0.1,
        "last_epoch": -1,
    }


def test_the_recipe_itself_is_left_unchanged(tmp_path, registry):
    recipe = tiny(tmp_path, registry)
    before = copy.deepcopy(recipe.data)
    full = with_component_defaults(recipe, registry)
    assert recipe.data == before
    full["model"]["fusion"]["dim"] = 999
    assert recipe.data["model"]["fusion"]["dim"] == 16


def test_environment_values_stay_references(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("MMZOO_TEST_WIDTH", "24")
    recipe = tiny(tmp_path, registry, ["run.name=${env:MMZOO_TEST_WIDTH}"])
    assert recipe.data["run"]["name"] == "24"
    assert with_component_defaults(recipe, registry)["run"]["name"] == "${env:MMZOO_TEST_WIDTH}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(RECIPES)))
def test_the_full_form_of_a_shipped_recipe_loads_back_to_the_same_recipe(path, registry, tmp_path):
    recipe = load_recipe(path, [], registry)
    full = with_component_defaults(recipe, registry)
    copy_path = tmp_path / path.name
    copy_path.write_text(yaml.safe_dump(full, sort_keys=False))
    again = load_recipe(copy_path, [], registry)
    assert with_component_defaults(again, registry) == full
    specs = [
        recipe.datamodule,
        *(spec for chain in recipe.transforms.values() for spec in chain),
        *recipe.encoders.values(),
        recipe.fusion,
        *recipe.heads.values(),
        *recipe.objectives.values(),
        recipe.weighting,
    ]
    for spec in specs:  # every option is there, the required ones included, with the recipe's values
        block = again.data
        for part in spec.key.split("."):
            block = block[int(part)] if isinstance(block, list) else block[part]
        assert {option.name for option in registry.get(spec.kind, spec.name).options} <= set(block)
        assert {k: block[k] for k in spec.options} == spec.options
