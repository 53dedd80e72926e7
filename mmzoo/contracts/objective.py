"""The objective contract: a loss (and metrics) from the heads' outputs and the batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mmzoo.contracts.batch import Batch, LossOutput

__all__ = ["Objective"]


class Objective(nn.Module):
    """Base class of objectives: ``forward(outputs, batch) -> loss`` (or :class:`LossOutput`).

    ``outputs`` maps head name -> that head's output. Objectives may own parameters. Metrics are
    torchmetrics objects created by :meth:`make_metrics` (one set per stage) and fed by
    :meth:`update_metrics`.
    """

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor | LossOutput:  # pragma: no cover
        raise NotImplementedError

    def make_metrics(self) -> dict[str, Any]:
        """Fresh ``torchmetrics.Metric`` objects by name (default: none)."""
        return {}

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        """Update a ``MetricCollection`` made from :meth:`make_metrics` with one batch."""

    def validation_batch(self, outputs: Mapping[str, Any], batch: Batch) -> None:
        """See one validation batch's outputs (after :meth:`update_metrics`; default: nothing).

        With :meth:`validation_end`, for objectives that fit something on the validation split,
        such as ``cross_entropy``'s temperature (``calibrate: true``).
        """

    def validation_end(self) -> None:
        """Called on every process once a validation epoch is complete, before the checkpoints of
        that epoch are written (default: nothing). State kept in buffers is saved with them."""

    def extra_forward(self, batch: Batch, model: Any) -> Any:
        """Run extra passes of ``model`` that this objective needs (default: none).

        Objectives that score modified inputs (masked tokens, mismatched pairs) build them here and
        call ``model(modified_batch)``, so that the main pass and the other objectives see the batch
        unchanged. The result reaches :meth:`forward` as ``outputs["_extra"]``.
        """
        return None

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        """Random ``(outputs, batch)`` this objective accepts, for contract tests.

        Tensors in ``outputs`` that the loss depends on must require gradients.
        """
        raise NotImplementedError(f"{type(self).__name__} does not provide example_inputs()")
