"""Every registered fusion drops into a recipe by changing one line, and trains a step."""

from __future__ import annotations

import math

import pytest

from mmzoo.plugins import load_registry
from mmzoo.run import run_recipe

FUSIONS = load_registry(warn=False).names("fusion")


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusion_swaps_in_with_one_override(fusion, tiny_recipe):
    result = run_recipe(
        "fit",
        tiny_recipe,
        [f"model.fusion={{name: {fusion}}}", "trainer.fast_dev_run=true", "model.encoders.text.name=conv1d"],
    )
    assert math.isfinite(result.metrics["val/loss"])
    assert 0.0 <= result.metrics["val/label/accuracy"] <= 1.0
