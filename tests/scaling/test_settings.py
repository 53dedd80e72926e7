"""Recipe keys for scaling: ``trainer.strategy`` (string or mapping) and ``model.attention``,
``model.activation_checkpointing``, ``model.compile``."""

from __future__ import annotations

import pytest
from lightning.pytorch.strategies import DDPStrategy

from mmzoo.recipe import load_recipe
from mmzoo.scaling.fsdp import FSDPStrategy
from mmzoo.scaling.strategy import resolve_strategy
from tests.recipe.test_validate import problems_of


def test_model_settings_default_and_override(tiny_recipe, registry):
    default = load_recipe(tiny_recipe, [], registry).model_settings
    assert (default.attention, default.activation_checkpointing, default.compile_options) == ("auto", False, None)
    chosen = load_recipe(
        tiny_recipe,
        ["model.attention=sdpa", "model.activation_checkpointing=true", "model.compile={mode: max-autotune}"],
        registry,
    ).model_settings
    assert chosen.attention == "sdpa" and chosen.activation_checkpointing
    assert chosen.compile_options == {"mode": "max-autotune"}
    assert load_recipe(tiny_recipe, ["model.compile=true"], registry).model_settings.compile_options == {}


@pytest.mark.parametrize(
    "override, key, fragment",
    [
        ("model.attention=flash", "model.attention", "expected 'auto' | 'sdpa' | 'fused'"),
        ("model.activation_checkpointing=3", "model.activation_checkpointing", "expected bool"),
        ("model.compile={mood: fast}", "model.compile.mood", "unknown option of torch.compile"),
        ("model.compile={fullgraph: 2}", "model.compile.fullgraph", "expected bool"),
        ("model.compil=true", "model.compil", "did you mean 'compile'"),
        ("trainer.strategy={name: zero}", "trainer.strategy.name", "must be one of ddp, fsdp"),
        ("trainer.strategy={name: fsdp, param_dtype: float64}", "trainer.strategy.param_dtype", "'bfloat16'"),
        (
            "trainer.strategy={name: fsdp, checkpoint: sharded, reshard: true}",
            "trainer.strategy.reshard",
            "reshard_after_forward",
        ),
        (
            "trainer.strategy={name: ddp, find_unused_parameters: maybe}",
            "trainer.strategy.find_unused_parameters",
            "bool",
        ),
    ],
)
def test_scaling_settings_errors_name_the_key(tiny_recipe, registry, override, key, fragment):
    found = problems_of(tiny_recipe, registry, [override])
    assert key in found, f"no problem at {key}: {found}"
    assert fragment in found[key].message


def test_strategies_resolve_to_lightning_objects():
    assert isinstance(resolve_strategy("fsdp"), FSDPStrategy)
    assert resolve_strategy("ddp") == "ddp"  # Lightning's own names pass through
    ddp = resolve_strategy({"name": "ddp", "find_unused_parameters": True})
    assert isinstance(ddp, DDPStrategy) and ddp._ddp_kwargs == {"find_unused_parameters": True}
    fsdp = resolve_strategy({"name": "fsdp", "param_dtype": "bfloat16", "checkpoint": "full"})
    assert fsdp.param_dtype_name == "bfloat16" and fsdp._save_distributed_checkpoint is False


@pytest.mark.parametrize(
    "precision, expected",
    [("bf16-mixed", "bfloat16"), ("bf16-true", "bfloat16"), ("16-true", "float16"), ("32-true", None)],
)
def test_fsdp_compute_dtype_follows_the_trainer_precision(precision, expected):
    import lightning.pytorch as pl
    import torch

    trainer = pl.Trainer(
        accelerator="cpu", devices=1, strategy=FSDPStrategy(), precision=precision, logger=False, barebones=True
    )
    dtype = trainer.strategy.param_dtype
    assert dtype == (None if expected is None else getattr(torch, expected))
    forced = FSDPStrategy(param_dtype="float32")
    assert forced.param_dtype is None
