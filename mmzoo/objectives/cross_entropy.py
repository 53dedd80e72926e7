"""Cross-entropy for a multi-class classification head, with accuracy and macro-F1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import NonNegativeFloat, Range
from mmzoo.contracts import Batch, CalibratedHead, Objective, logits_of
from mmzoo.objectives._parts import (
    check_label_smoothing,
    class_weight,
    head_num_classes,
    metric_outputs,
    metrics_with_parts,
)
from mmzoo.ops.calibration import fit_temperature

__all__ = ["CrossEntropyObjective"]

MetricName = Literal["accuracy", "macro_f1", "auroc", "ece"]


class CrossEntropyObjective(Objective):
    """Cross-entropy of a classification head against an integer target, with accuracy and F1.

    Scores logits ``(B, C)`` against targets ``(B,)``.

    Rows whose target is ``-100`` are ignored (no label).

    Args:
        head: name of the head in ``model.heads`` whose logits are scored.
        target: name of the target in the batch.
        label_smoothing: amount of label smoothing, in ``[0, 1)``.
        class_weights: one non-negative weight per class, or ``null``.
        num_classes: number of classes for the metrics (at least 2); by default the head's ``num_classes``.
        metrics: torchmetrics to report: ``accuracy`` (micro), ``macro_f1``, ``auroc`` (macro,
            one-vs-rest) and/or ``ece`` (expected calibration error of the head's probabilities
            after its temperature, 15 equal-width confidence bins).
        part_metrics: modalities to also score alone (``accuracy@audio``...); needs a fusion that
            returns per-modality parts, such as ``late``.
        calibrate: fit the head's temperature on every validation epoch's logits (temperature
            scaling, ``mmzoo.ops.calibration``); the head must be a ``CalibratedHead``
            (``classification``, ``ctc_alignment``). The temperature is saved with each
            checkpoint, so the checkpoint a later command loads carries the one fitted on its own
            weights; ``mmzoo predict`` writes probabilities after it.
    """

    def __init__(
        self,
        head: str,
        target: str,
        heads: Mapping[str, Any] | None = None,
        label_smoothing: Annotated[float, Range(ge=0, lt=1)] = 0.0,
        class_weights: list[NonNegativeFloat] | None = None,
        num_classes: Annotated[int, Range(ge=2)] | None = None,
        metrics: list[MetricName] = ["accuracy", "macro_f1"],  # noqa: B006 - read only
        part_metrics: list[str] = [],  # noqa: B006 - read only
        calibrate: bool = False,
    ) -> None:
        super().__init__()
        self.head = head
        self.target = target
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.num_classes = head_num_classes(num_classes, heads, head)
        self.register_buffer(
            "class_weights", class_weight("class_weights", class_weights, self.num_classes, head, "classes")
        )
        self.metric_names = list(metrics)
        self.part_metrics = list(part_metrics)
        self.calibrate = calibrate
        # The calibrated head, kept in a plain dict so that its weights are not registered twice.
        self._calibrated: dict[str, CalibratedHead] = {}
        if calibrate:
            scored = (heads or {}).get(head)
            if not isinstance(scored, CalibratedHead):
                kind = "no head" if scored is None else f"a {type(scored).__name__}"
                raise ValueError(
                    f"calibrate: true needs head '{head}' to be a CalibratedHead (such as classification or"
                    f" ctc_alignment), but it is {kind}"
                )
            from torchmetrics.aggregation import CatMetric

            self._calibrated[head] = scored
            self.validation_logits = CatMetric()
            self.validation_targets = CatMetric()

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        logits = logits_of(outputs[self.head])
        return F.cross_entropy(
            logits.float(),
            batch.targets[self.target],
            weight=self.class_weights,
            label_smoothing=self.label_smoothing,
            ignore_index=-100,
        )

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics.classification import (
            MulticlassAccuracy,
            MulticlassAUROC,
            MulticlassCalibrationError,
            MulticlassF1Score,
        )

        if self.num_classes is None:
            return {}
        factories = {
            "ece": lambda: MulticlassCalibrationError(self.num_classes, n_bins=15, norm="l1", ignore_index=-100),
            "accuracy": lambda: MulticlassAccuracy(self.num_classes, average="micro", ignore_index=-100),
            "macro_f1": lambda: MulticlassF1Score(self.num_classes, average="macro", ignore_index=-100),
            "auroc": lambda: MulticlassAUROC(self.num_classes, average="macro", ignore_index=-100),
        }
        return metrics_with_parts(factories, self.metric_names, self.part_metrics)

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        target = batch.targets[self.target]
        for metric, logits in metric_outputs(metrics, outputs, self.head, "cross_entropy"):
            metric.update(self._scaled(logits_of(logits)).softmax(dim=-1), target)  # probabilities: no guessing

    def _scaled(self, logits: Tensor) -> Tensor:
        """``(B, C)`` float logits after the calibrated head's temperature (unchanged without ``calibrate``)."""
        logits = logits.detach().float()
        for head in self._calibrated.values():
            logits = logits / head.temperature.float()
        return logits

    def validation_batch(self, outputs: Mapping[str, Any], batch: Batch) -> None:
        if self.calibrate:
            self.validation_logits.update(logits_of(outputs[self.head]).detach().float())
            self.validation_targets.update(batch.targets[self.target])

    def validation_end(self) -> None:
        """With ``calibrate``, fit the head's temperature on the epoch's logits from every process."""
        if not self.calibrate or self.validation_logits.update_count == 0:
            return
        logits, targets = self.validation_logits.compute(), self.validation_targets.compute()
        self.validation_logits.reset()
        self.validation_targets.reset()
        self._calibrated[self.head].set_temperature(fit_temperature(logits.cpu(), targets.cpu().long()))

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        classes = self.num_classes or 3
        logits = torch.randn(batch_size, classes, requires_grad=True)
        targets = torch.arange(batch_size) % classes
        return {self.head: logits}, Batch(
            inputs={}, targets={self.target: targets}, ids=[str(i) for i in range(batch_size)]
        )
