"""Binary cross-entropy for a multi-label head, with macro-F1, macro AUROC and accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import NonNegativeFloat, PositiveInt, Range
from mmzoo.contracts import Batch, Objective
from mmzoo.objectives._parts import (
    check_label_smoothing,
    class_weight,
    head_num_classes,
    metric_outputs,
    metrics_with_parts,
)

__all__ = ["BCEObjective"]

MetricName = Literal["macro_f1", "auroc", "accuracy"]


class BCEObjective(Objective):
    """Binary cross-entropy of a multi-label head against multi-hot targets, with F1 and AUROC.

    Scores logits ``(B, C)`` against multi-hot float targets ``(B, C)``, one independent sigmoid
    per label, averaged over labels and rows.

    Rows whose target holds ``NaN`` are ignored (no label).

    Args:
        head: name of the head in ``model.heads`` whose logits are scored.
        target: name of the (multi-hot) target in the batch.
        pos_weight: one non-negative weight per label for its positive examples (``> 1`` favours recall), or
            ``null``.
        label_smoothing: amount of label smoothing, in ``[0, 1)``: targets move towards ``0.5``.
        num_classes: number of labels for the metrics; by default the head's ``num_classes``.
        metrics: torchmetrics to report: ``macro_f1``, ``auroc`` (macro) and/or ``accuracy``
            (micro over all label decisions, threshold 0.5).
        part_metrics: modalities to also score alone (``auroc@audio``...); needs a fusion that
            returns per-modality parts, such as ``late``.
    """

    def __init__(
        self,
        head: str,
        target: str,
        heads: Mapping[str, Any] | None = None,
        pos_weight: list[NonNegativeFloat] | None = None,
        label_smoothing: Annotated[float, Range(ge=0, lt=1)] = 0.0,
        num_classes: PositiveInt | None = None,
        metrics: list[MetricName] = ["macro_f1", "auroc", "accuracy"],  # noqa: B006 - read only
        part_metrics: list[str] = [],  # noqa: B006 - read only
    ) -> None:
        super().__init__()
        self.head = head
        self.target = target
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.num_classes = head_num_classes(num_classes, heads, head)
        self.register_buffer("pos_weight", class_weight("pos_weight", pos_weight, self.num_classes, head, "labels"))
        self.metric_names = list(metrics)
        self.part_metrics = list(part_metrics)

    @staticmethod
    def _labelled(target: Tensor) -> Tensor:
        """Bool ``(B,)``: rows with a label (no ``NaN`` in their target)."""
        return ~torch.isnan(target.float()).reshape(target.shape[0], -1).any(dim=1)

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        logits = outputs[self.head].float()
        target = batch.targets[self.target].float()
        rows = self._labelled(target)
        if not rows.any():
            return logits.sum() * 0.0  # nothing labelled: a zero that keeps the graph
        target = target[rows]
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(logits[rows], target, pos_weight=self.pos_weight)

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics.classification import MultilabelAccuracy, MultilabelAUROC, MultilabelF1Score

        if self.num_classes is None:
            return {}
        labels = self.num_classes
        factories = {
            "macro_f1": lambda: MultilabelF1Score(labels, threshold=0.5, average="macro"),
            "auroc": lambda: MultilabelAUROC(labels, average="macro"),
            "accuracy": lambda: MultilabelAccuracy(labels, threshold=0.5, average="micro"),
        }
        return metrics_with_parts(factories, self.metric_names, self.part_metrics)

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        target = batch.targets[self.target]
        rows = self._labelled(target)
        if not rows.any():
            return
        target = target[rows].long()
        for metric, logits in metric_outputs(metrics, outputs, self.head, "bce"):
            # probabilities, so that torchmetrics never has to guess whether these are logits
            metric.update(logits.detach()[rows].float().sigmoid(), target)

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        labels = self.num_classes or 3
        logits = torch.randn(batch_size, labels, requires_grad=True)
        rows = torch.arange(batch_size).unsqueeze(1)
        targets = ((rows + torch.arange(labels)) % 2).float()
        if batch_size > 2:
            targets[-1] = float("nan")  # an unlabelled row
        return {self.head: logits}, Batch(
            inputs={}, targets={self.target: targets}, ids=[str(i) for i in range(batch_size)]
        )
