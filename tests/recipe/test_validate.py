"""Validation: every problem at once, with dotted keys and file:line."""

from __future__ import annotations

import pytest

from mmzoo.errors import RecipeError
from mmzoo.recipe import load_recipe


def problems_of(path, registry, overrides=()):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides), registry)
    return {p.key: p for p in info.value.problems}


def test_tiny_recipe_is_valid(tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, [], registry)
    assert sorted(recipe.encoders) == ["audio", "text"]
    assert recipe.fusion.name == "concat"
    assert recipe.objectives["label"].weight == 1.0
    assert recipe.run_name == "tiny"


def test_all_problems_reported_together(tiny_recipe, registry):
    text = tiny_recipe.read_text()
    text = text.replace("name: concat", "name: concta").replace("dim: 16, layers: 1", "dim: sixteen, layerz: 1")
    text = text.replace("num_classes: 2}", "}").replace("max_epochs: 2", "max_epoch: 2")
    text += "optimiser: {}\n"
    tiny_recipe.write_text(text)
    found = problems_of(tiny_recipe, registry)
    assert "did you mean 'concat'" in found["model.fusion.name"].message
    assert "expected int >= 1, got the string 'sixteen'" in found["model.encoders.audio.dim"].message
    assert "did you mean 'layers'" in found["model.encoders.audio.layerz"].message
    assert "missing required option" in found["model.heads.label.num_classes"].message
    assert "did you mean 'max_epochs'" in found["trainer.max_epoch"].message
    assert "did you mean 'optimizer'" in found["optimiser"].message
    fusion_line = next(i for i, line in enumerate(text.splitlines(), 1) if "fusion:" in line)
    assert found["model.fusion.name"].location.endswith(f"tiny.yaml:{fusion_line}")


def test_override_problems_join_recipe_problems(tiny_recipe, registry):
    found = problems_of(tiny_recipe, registry, ["model.fusion.hiden=3", "nope.x=1", "trainer.max_epochs=abc"])
    assert found["model.fusion.hiden"].location == "command line (model.fusion.hiden=3)"
    assert "did you mean 'hidden_dim'" in found["model.fusion.hiden"].message
    assert "does not exist" in found["nope.x"].message
    assert "expected int | null" in found["trainer.max_epochs"].message


@pytest.mark.parametrize(
    "override, key, fragment",
    [
        ("data.name=nope", "data.name", "unknown datamodule 'nope'"),
        ("model.encoders.audio=3", "model.encoders.audio", "must be a mapping with a 'name' key"),
        ("model.encoders.audio={dim: 3}", "model.encoders.audio", "missing 'name' of the encoder"),
        ("objectives.label.weight=-1", "objectives.label.weight", "must be a number >= 0"),
        ("objectives.label.head=lable", "objectives.label.head", "no head or decoder named 'lable'"),
        ("trainer.logger=false", "trainer.logger", "is set by mmzoo"),
        ("trainer.callbacks=[]", "trainer.callbacks", "is set by mmzoo"),
        ("optimizer.name=torch.optim.Nope", "optimizer.name", "cannot use optimizer"),
        ("optimizer.name=os.path", "optimizer.name", "cannot use optimizer"),
        ("optimizer.betas=3", "optimizer.betas", "expected tuple"),
        ("optimizer.lrr=0.1", "optimizer.lrr", "did you mean 'lr'"),
        ("scheduler.name=torch.optim.lr_scheduler.StepLR", "scheduler.step_size", "missing required option"),
        ("scheduler.interval=hourly", "scheduler.interval", "must be 'step' or 'epoch'"),
        ("seed=abc", "seed", "expected int >= 0 | null"),
        ("run.rot=x", "run.rot", "did you mean 'root'"),
        ("logger.wandb.mode=cloud", "logger.wandb.mode", "expected 'offline' | 'online' | 'disabled'"),
        ("checkpoint.mode=up", "checkpoint.mode", "expected 'min' | 'max'"),
        ("model.heads={}", "model.heads", "needs at least one head"),
        ("objectives.label=null", "objectives", "needs at least one objective"),
        ("model.encoders.audio.freeze=3", "model.encoders.audio.freeze", "expected bool"),
        ("model.encoders.audio.lora={r: x}", "model.encoders.audio.lora", "'r': expected int"),
        ("model.encoders.audio.project_dim=wide", "model.encoders.audio.project_dim", "expected int | null"),
        ("transforms={audio: 3}", "transforms.audio", "must be a list of transforms"),
        ("transforms={audio: [{name: log_mell}]}", "transforms.audio.0.name", "did you mean 'log_mel'"),
        ("transforms={audio: [{name: gain, train_only: maybe}]}", "transforms.audio.0.train_only", "expected bool"),
    ],
)
def test_validation_error_paths(tiny_recipe, registry, override, key, fragment):
    if override.startswith("scheduler."):
        tiny_recipe.write_text(tiny_recipe.read_text() + "scheduler: {name: warmup_cosine}\n")
    found = problems_of(tiny_recipe, registry, [override])
    assert key in found, f"no problem at {key}: {found}"
    assert fragment in found[key].message


def test_missing_sections(tmp_path, registry):
    path = tmp_path / "r.yaml"
    path.write_text("seed: 1\n")
    found = problems_of(path, registry)
    assert {"data", "model", "objectives"} <= set(found)


def test_null_drops_an_encoder(tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, ["model.encoders.text=null"], registry)
    assert list(recipe.encoders) == ["audio"]


def test_scheduler_from_torch_with_options(tiny_recipe, registry):
    tiny_recipe.write_text(
        tiny_recipe.read_text() + "scheduler: {name: torch.optim.lr_scheduler.StepLR, step_size: 1, interval: epoch}\n"
    )
    recipe = load_recipe(tiny_recipe, [], registry)
    assert recipe.scheduler.options == {"step_size": 1, "interval": "epoch"}


def test_fusions_that_cannot_handle_missing_modalities_are_refused(registry):
    import types

    import mmzoo
    from mmzoo.fusions.concat import ConcatFusion
    from mmzoo.plugins import load_registry

    from ..conftest import RECIPES

    class Strict(ConcatFusion):
        """A fusion that needs every modality."""

        handles_missing = False

    plugin = types.SimpleNamespace(
        mmzoo_register_fusions=mmzoo.hookimpl(lambda registrar: registrar.add("strict", Strict))
    )
    with_strict = load_registry(extra_plugins=[("strict-plugin", plugin)])
    recipe = RECIPES / "digits" / "audio_image.yaml"
    found = problems_of(recipe, with_strict, ["model.fusion.name=strict", "data.modalities.image.optional=true"])
    assert "cannot train with missing modalities" in found["model.fusion.name"].message
    assert "image" in found["model.fusion.name"].message and "concat" in found["model.fusion.name"].message
    load_recipe(recipe, ["model.fusion.name=strict"], with_strict)  # all modalities required: fine
    load_recipe(recipe, ["data.modalities.image.optional=true"], with_strict)  # concat handles it
