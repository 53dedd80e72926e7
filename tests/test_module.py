"""MultimodalModule.forward: which heads run, and heads that read the raw inputs."""

from __future__ import annotations

import torch

from mmzoo.build import build_datamodule, build_module
from mmzoo.contracts import Head
from mmzoo.recipe import load_recipe


class InputProbe(Head):
    """Records the inputs it is given; outputs one zero per row."""

    reads_inputs = True

    def __init__(self) -> None:
        super().__init__()
        self.seen = None

    def forward(self, fused, encoded, inputs):
        self.seen = inputs
        return torch.zeros(fused.pooled.shape[0])


def test_forward_runs_the_chosen_heads_and_gives_inputs_to_heads_that_read_them(tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, [], registry)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    module.heads["probe"] = InputProbe()
    module.eval()  # no dropout: two passes must agree
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))

    outputs, _, _ = module(batch)
    assert set(outputs) == {"label", "probe"}
    assert module.heads["probe"].seen is batch.inputs

    module.heads["probe"].seen = None
    only, _, _ = module(batch, heads=["label"])
    assert set(only) == {"label"} and module.heads["probe"].seen is None
    assert torch.equal(only["label"], outputs["label"])
