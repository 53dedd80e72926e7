"""Multi-class classification from the fused vector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from torch import Tensor

from mmzoo.constraints import PositiveInt, Probability, Range
from mmzoo.contracts import CalibratedHead, Encoded, Fused
from mmzoo.heads._mlp import mlp_head

__all__ = ["ClassificationHead"]


class ClassificationHead(CalibratedHead):
    """Multi-class logits from the fused vector (``Fused.pooled``).

    Args:
        num_classes: number of classes (at least 2).
        hidden_dim: width of an optional hidden layer; ``null`` for a linear head.
        dropout: dropout before the output layer.

    Inputs:
        fused: :class:`Fused` with ``pooled (B, in_dim)``.
    Returns:
        logits ``(B, num_classes)``.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: Annotated[int, Range(ge=2)],
        hidden_dim: PositiveInt | None = None,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        self.net = mlp_head(in_dim, hidden_dim, num_classes, dropout)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        return self.net(fused.pooled)

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``label (B,)`` the arg-max class, ``probs`` and ``logits`` ``(B, num_classes)`` after the
        temperature (see :class:`~mmzoo.contracts.CalibratedHead`)."""
        return self.class_predictions(output)
