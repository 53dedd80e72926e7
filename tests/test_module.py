"""MultimodalModule.forward: which heads run, and heads that read the raw inputs."""

from __future__ import annotations

import pytest
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


def test_epoch_sums_give_batch_weighted_means_summed_over_processes():
    from mmzoo.module import _EpochSums

    sums = _EpochSums()
    sums.add({"loss": torch.tensor(1.0), "ce": torch.tensor(2.0)}, 10)
    sums.add({"loss": torch.tensor(4.0)}, 30)
    means = sums.means()
    assert means["loss"].item() == pytest.approx((10 * 1 + 30 * 4) / 40) and means["ce"].item() == 2.0
    assert sums.means() == {}  # started again
    sums.add({"loss": torch.tensor(3.0)}, 2)
    doubled = sums.means(lambda t, reduce_op: t * 2)  # as if a second process had the same values
    assert doubled["loss"].item() == 3.0


def test_batches_move_only_their_tensors():
    from mmzoo.contracts import Batch, ModalityInput

    meta = ({"text": "a"},)
    batch = Batch(
        inputs={"audio": ModalityInput(torch.ones(1, 3), torch.ones(1, 3, dtype=torch.bool))},
        targets={"label": torch.tensor([1])},
        ids=["r0"],
        meta=meta,
    )
    moved = batch.to(torch.device("meta"))
    assert moved.inputs["audio"].values.device.type == "meta" and moved.targets["label"].device.type == "meta"
    assert moved.ids is batch.ids and moved.meta is meta
