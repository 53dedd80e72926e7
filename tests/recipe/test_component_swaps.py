"""Swapping a component (a changed `name`) replaces its whole block, by override and under
`extends:` alike; every other section merges key by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmzoo.errors import RecipeError
from mmzoo.recipe import apply_overrides, load_recipe, load_recipe_file
from mmzoo.recipe.loader import deep_merge, is_component_block

from ..conftest import RECIPES
from .helpers import loaded

QUICKSTART = RECIPES / "quickstart.yaml"


@pytest.mark.parametrize(
    "key",
    [
        "data",
        "model.encoders.audio",
        "model.fusion",
        "model.heads.label",
        "objectives.label",
        "weighting",
        "optimizer",
        "scheduler",
        "transforms.audio.0",
    ],
)
def test_component_blocks(key):
    assert is_component_block(key)


@pytest.mark.parametrize(
    "key",
    ["", "run", "model", "model.encoders", "transforms.audio", "transforms.audio.x", "trainer.strategy", "logger"],
)
def test_other_keys_are_not_component_blocks(key):
    assert not is_component_block(key)


# -- by override --------------------------------------------------------------------------------


def test_name_override_swaps_the_fusion_for_a_clean_one(registry):
    recipe = load_recipe(QUICKSTART, ["model.fusion.name=gated"], registry)
    assert recipe.data["model"]["fusion"] == {"name": "gated"}
    assert recipe.fusion.options == {}


def test_later_overrides_add_options_to_the_swapped_component(registry):
    recipe = load_recipe(QUICKSTART, ["model.fusion.name=gated", "model.fusion.dim=32"], registry)
    assert recipe.data["model"]["fusion"] == {"name": "gated", "dim": 32}
    assert recipe.locations["model.fusion.dim"] == "command line (model.fusion.dim=32)"


def test_earlier_overrides_of_the_old_component_are_dropped(registry):
    recipe = load_recipe(QUICKSTART, ["model.fusion.hidden_dim=64", "model.fusion.name=gated"], registry)
    assert recipe.data["model"]["fusion"] == {"name": "gated"}


def test_mapping_override_gives_exactly_that_block(registry):
    recipe = load_recipe(QUICKSTART, ["model.fusion={name: gated, dim: 64}"], registry)
    assert recipe.data["model"]["fusion"] == {"name": "gated", "dim": 64}


def test_the_same_name_keeps_the_options(registry):
    recipe = load_recipe(QUICKSTART, ["model.fusion.name=concat"], registry)
    assert recipe.data["model"]["fusion"] == {"name": "concat", "dim": 64, "hidden_dim": 128}


def test_an_encoder_swap_drops_its_encoder_level_options(tmp_path):
    recipe = loaded(tmp_path, "model:\n  encoders:\n    audio: {name: conv1d, dim: 16, freeze: true, lora: {r: 4}}\n")
    assert apply_overrides(recipe, ["model.encoders.audio.name=bag"]) == []
    assert recipe.data["model"]["encoders"]["audio"] == {"name": "bag"}
    assert not any(
        key.startswith("model.encoders.audio.") and key != "model.encoders.audio.name" for key in recipe.locations
    )


@pytest.mark.parametrize(
    "block, swap",
    [
        ("data", "data.name=speech_qc"),
        ("model.heads.label", "model.heads.label.name=regression"),
        ("objectives.label", "objectives.label.name=bce"),
        ("optimizer", "optimizer.name=sgd"),
        ("scheduler", "scheduler.name=constant"),
    ],
)
def test_every_component_block_swaps(tmp_path, block, swap):
    recipe = loaded(tmp_path, QUICKSTART.read_text())
    assert apply_overrides(recipe, [swap]) == []
    node = recipe.data
    for part in block.split("."):
        node = node[part]
    assert node == {"name": swap.split("=")[1]}
    assert recipe.locations[block] == f"command line ({swap})"


def test_a_transform_in_a_list_swaps_by_index(tmp_path):
    recipe = loaded(tmp_path, "transforms:\n  audio:\n    - {name: log_mel, n_mels: 40}\n    - {name: normalize}\n")
    assert apply_overrides(recipe, ["transforms.audio.0.name=resample", "transforms.audio.1.eps=0.1"]) == []
    assert recipe.data["transforms"]["audio"] == [{"name": "resample"}, {"name": "normalize", "eps": 0.1}]
    assert recipe.locations["transforms.audio.0.name"] == "command line (transforms.audio.0.name=resample)"


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "transforms.audio.2.name=x",
            "'transforms.audio' is a list of 1 item(s); address an item by its index (0 to 0)",
        ),
        ("transforms.audio.first.name=x", "is a list of 1 item(s)"),
        ("transforms.audio.5=x", "is a list of 1 item(s)"),
    ],
)
def test_list_items_must_exist(tmp_path, override, message):
    recipe = loaded(tmp_path, "transforms:\n  audio:\n    - {name: log_mel}\n")
    (problem,) = apply_overrides(recipe, [override])
    assert message in problem.message
    assert problem.location == "command line"


def test_a_scalar_list_item_is_not_a_mapping(tmp_path):
    recipe = loaded(tmp_path, "trainer:\n  devices: [0, 1]\n")
    (problem,) = apply_overrides(recipe, ["trainer.devices.0.x=1"])
    assert "'trainer.devices.0' is not a mapping" in problem.message
    assert apply_overrides(recipe, ["trainer.devices.1=3"]) == []
    assert recipe.data["trainer"]["devices"] == [0, 3]


def test_a_missing_or_null_single_block_is_created_by_its_name(tmp_path):
    recipe = loaded(tmp_path, "scheduler: null\nmodel:\n  encoders: {}\n")
    assert (
        apply_overrides(recipe, ["scheduler.name=constant", "weighting.name=uncertainty", "model.fusion.name=mean"])
        == []
    )
    assert recipe.data["scheduler"] == {"name": "constant"}
    assert recipe.data["weighting"] == {"name": "uncertainty"}
    assert recipe.data["model"]["fusion"] == {"name": "mean"}
    assert recipe.locations["weighting"] == "command line (weighting.name=uncertainty)"


def test_a_named_entry_is_not_created_by_its_name(tmp_path):
    """A typo of a modality must not add an encoder: add one with a mapping instead."""
    recipe = loaded(tmp_path, "model:\n  encoders:\n    audio: {name: conv1d}\n")
    (problem,) = apply_overrides(recipe, ["model.encoders.audi.name=conv1d"])
    assert "key 'model.encoders.audi' does not exist (did you mean 'audio'?)" in problem.message
    assert apply_overrides(recipe, ["model.encoders.image={name: small_cnn}"]) == []


def test_a_missing_parent_of_a_single_block_is_still_reported(tmp_path):
    recipe = loaded(tmp_path, "seed: 1\n")
    (problem,) = apply_overrides(recipe, ["model.fusion.name=mean"])
    assert "key 'model' does not exist" in problem.message


def test_a_name_outside_component_blocks_is_a_plain_value(tmp_path):
    recipe = loaded(tmp_path, "trainer:\n  strategy: {name: fsdp, sharding: full}\nrun: {root: out, name: a}\n")
    assert apply_overrides(recipe, ["trainer.strategy.name=ddp", "run.name=b"]) == []
    assert recipe.data["trainer"]["strategy"] == {"name": "ddp", "sharding": "full"}
    assert recipe.data["run"] == {"root": "out", "name": "b"}


def test_problems_of_the_swapped_component_name_the_override(registry):
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ["objectives.label.name=bce"], registry)
    rendered = {p.key: p.location for p in info.value.problems}
    assert rendered["objectives.label.head"] == "command line (objectives.label.name=bce)"
    assert rendered["objectives.label.target"] == "command line (objectives.label.name=bce)"


# -- under extends --------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_extends_swaps_component_blocks(tmp_path):
    write(
        tmp_path / "base.yaml",
        "data: {name: tones_and_words, batch_size: 8}\n"
        "model:\n  encoders:\n    audio: {name: conv1d, dim: 16, freeze: true}\n"
        "  heads:\n    label: {name: classification, num_classes: 2}\n"
        "objectives:\n  label: {name: cross_entropy, head: label, target: label}\n"
        "optimizer: {name: adamw, lr: 0.1}\n",
    )
    child = write(
        tmp_path / "child.yaml",
        "extends: base.yaml\n"
        "data: {name: manifest, train: t.jsonl}\n"
        "model:\n  encoders:\n    audio: {name: bag}\n"
        "objectives:\n  label: {name: bce}\n"
        "optimizer: {name: sgd}\n",
    )
    data = load_recipe_file(child).data
    assert data["data"] == {"name": "manifest", "train": "t.jsonl"}
    assert data["model"]["encoders"]["audio"] == {"name": "bag"}
    assert data["model"]["heads"]["label"] == {"name": "classification", "num_classes": 2}
    assert data["objectives"]["label"] == {"name": "bce"}
    assert data["optimizer"] == {"name": "sgd"}


def test_extends_merges_a_component_block_of_the_same_name(tmp_path):
    write(tmp_path / "base.yaml", "model:\n  fusion: {name: concat, dim: 8, hidden_dim: 16}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nmodel:\n  fusion: {name: concat, dim: 32}\n")
    assert load_recipe_file(child).data["model"]["fusion"] == {"name": "concat", "dim": 32, "hidden_dim": 16}


def test_extends_keeps_run_root_when_the_child_names_its_run(tmp_path, registry):
    base = QUICKSTART.read_text().replace("root: runs", f"root: {tmp_path / 'elsewhere'}")
    write(tmp_path / "base.yaml", base)
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nrun: {name: child-runs}\n")
    assert load_recipe_file(child).data["run"] == {"root": str(tmp_path / "elsewhere"), "name": "child-runs"}
    recipe = load_recipe(child, [], registry)
    assert recipe.run.root == str(tmp_path / "elsewhere") and recipe.run.name == "child-runs"


def test_extends_merges_other_mappings_with_a_name(tmp_path):
    write(tmp_path / "base.yaml", "trainer:\n  strategy: {name: fsdp, sharding: full}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ntrainer:\n  strategy: {name: ddp}\n")
    assert load_recipe_file(child).data["trainer"]["strategy"] == {"name": "ddp", "sharding": "full"}


def test_deep_merge_applies_the_name_rule_by_key():
    base, child = {"name": "a", "x": 1}, {"name": "b"}
    assert deep_merge(base, child, "model.fusion") == {"name": "b"}
    assert deep_merge(base, child, "run") == {"name": "b", "x": 1}
    assert deep_merge({"model": {"fusion": base}}, {"model": {"fusion": child}}) == {"model": {"fusion": {"name": "b"}}}


@pytest.mark.parametrize(
    "base, child, expected",
    [
        ("logger: {csv: true, wandb: {name: a, project: p}}", "logger: {wandb: {name: b}}", {"csv": True, "wandb": {"name": "b", "project": "p"}}),
        ("trainer: {max_epochs: 3, precision: 32-true}", "trainer: {max_epochs: 5}", {"max_epochs": 5, "precision": "32-true"}),
        ("data: {name: manifest, train: a.jsonl, batch_size: 4}", "data: {name: manifest, batch_size: 8}", {"name": "manifest", "train": "a.jsonl", "batch_size": 8}),
        ("weighting: {name: fixed}", "weighting: {name: uncertainty}", {"name": "uncertainty"}),
        ("scheduler: {name: warmup_cosine, warmup_steps: 5}", "scheduler: {name: constant}", {"name": "constant"}),
        ("model: {heads: {y: {name: classification, num_classes: 3}}}", "model: {heads: {y: {name: regression}}}", {"heads": {"y": {"name": "regression"}}}),
        ("transforms: {audio: [{name: log_mel, n_mels: 40}]}", "transforms: {audio: [{name: normalize}]}", {"audio": [{"name": "normalize"}]}),
    ],
    ids=["logger", "trainer", "data", "weighting", "scheduler", "heads", "transforms"],
)
def test_extends_replaces_only_components(tmp_path, base, child, expected):
    write(tmp_path / "base.yaml", base + "\n")
    data = load_recipe_file(write(tmp_path / "child.yaml", "extends: base.yaml\n" + child + "\n")).data
    (section,) = data
    assert data[section] == expected
