"""Regression losses (MSE, L1, Huber) for a regression head, with MAE and RMSE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import PositiveFloat
from mmzoo.contracts import Batch, Objective
from mmzoo.objectives._parts import metric_outputs, metrics_with_parts

__all__ = ["RegressionObjective"]

MetricName = Literal["mae", "rmse"]


class RegressionObjective(Objective):
    """Mean squared, absolute or Huber error of a regression head against real-valued targets.

    Scores values ``(B,)`` (or ``(B, K)``) against float targets of the same shape.

    Target values that are ``NaN`` are ignored (no label).

    Args:
        head: name of the head in ``model.heads`` whose values are scored.
        target: name of the target in the batch.
        loss: ``mse``, ``l1`` or ``huber``.
        huber_delta: where the Huber loss turns from squared to linear, for ``huber``.
        metrics: torchmetrics to report: ``mae`` and/or ``rmse``.
        part_metrics: modalities to also score alone (``mae@audio``...); needs a fusion that
            returns per-modality parts, such as ``late``.
    """

    def __init__(
        self,
        head: str,
        target: str,
        heads: Mapping[str, Any] | None = None,
        loss: Literal["mse", "l1", "huber"] = "mse",
        huber_delta: PositiveFloat = 1.0,
        metrics: list[MetricName] = ["mae", "rmse"],  # noqa: B006 - read only
        part_metrics: list[str] = [],  # noqa: B006 - read only
    ) -> None:
        super().__init__()
        if loss not in ("mse", "l1", "huber"):
            raise ValueError(f"loss must be 'mse', 'l1' or 'huber', got {loss!r}")
        if huber_delta <= 0:
            raise ValueError(f"huber_delta must be positive, got {huber_delta}")
        self.head = head
        self.target = target
        self.loss = loss
        self.huber_delta = huber_delta
        self.metric_names = list(metrics)
        self.part_metrics = list(part_metrics)

    def _pairs(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Predictions and targets at labelled positions, flattened, in float32."""
        output = output.float()
        target = target.to(output.device, torch.float32)
        if output.shape != target.shape:
            if output.numel() != target.numel():
                raise ValueError(
                    f"regression: head '{self.head}' gives shape {tuple(output.shape)} but target"
                    f" '{self.target}' has shape {tuple(target.shape)}"
                )
            output = output.reshape(target.shape)
        labelled = ~torch.isnan(target)
        return output[labelled], target[labelled]

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        output = outputs[self.head]
        pred, target = self._pairs(output, batch.targets[self.target])
        if pred.numel() == 0:
            return output.float().sum() * 0.0  # nothing labelled: a zero that keeps the graph
        if self.loss == "mse":
            return F.mse_loss(pred, target)
        if self.loss == "l1":
            return F.l1_loss(pred, target)
        return F.huber_loss(pred, target, delta=self.huber_delta)

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics import MeanAbsoluteError, MeanSquaredError

        factories = {"mae": MeanAbsoluteError, "rmse": lambda: MeanSquaredError(squared=False)}
        return metrics_with_parts(factories, self.metric_names, self.part_metrics)

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        target = batch.targets[self.target]
        for metric, output in metric_outputs(metrics, outputs, self.head, "regression"):
            pred, labelled = self._pairs(output.detach(), target)
            if pred.numel():
                metric.update(pred, labelled)

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        values = torch.randn(batch_size, requires_grad=True)
        targets = torch.randn(batch_size)
        if batch_size > 2:
            targets[-1] = float("nan")  # an unlabelled row
        return {self.head: values}, Batch(
            inputs={}, targets={self.target: targets}, ids=[str(i) for i in range(batch_size)]
        )
