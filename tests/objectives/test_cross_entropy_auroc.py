"""cross_entropy's ``auroc`` metric: macro one-vs-rest AUROC, unlabelled rows ignored."""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAUROC

from mmzoo.contracts import Batch
from mmzoo.objectives import CrossEntropyObjective


def test_auroc_matches_torchmetrics():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(12, 3, generator=generator)
    target = torch.arange(12) % 3
    target[4] = -100  # unlabelled
    objective = CrossEntropyObjective(head="label", target="label", num_classes=3, metrics=["accuracy", "auroc"])
    metrics = MetricCollection(objective.make_metrics())
    assert set(metrics.keys(keep_base=True)) == {"accuracy", "auroc"}
    for rows in (slice(0, 6), slice(6, 12)):
        batch = Batch(inputs={}, targets={"label": target[rows]}, ids=[])
        objective.update_metrics(metrics, {"label": logits[rows]}, batch)
    keep = target != -100
    expected = MulticlassAUROC(3, average="macro")(logits[keep].softmax(-1), target[keep])
    torch.testing.assert_close(metrics.compute()["auroc"], expected)
