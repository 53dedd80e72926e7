"""Multi-label classification from the fused vector: one independent logit per class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from torch import Tensor

from mmzoo.constraints import PositiveInt, Probability, Range
from mmzoo.contracts import Encoded, Fused, Head
from mmzoo.heads._mlp import mlp_head

__all__ = ["MultiLabelHead"]


class MultiLabelHead(Head):
    """Multi-label logits from the fused vector (``Fused.pooled``), one sigmoid per class.

    Args:
        num_classes: number of labels.
        hidden_dim: width of an optional hidden layer; ``null`` for a linear head.
        dropout: dropout before the output layer.
        threshold: probability above which a label is predicted, in ``(0, 1)``.

    Inputs:
        fused: :class:`Fused` with ``pooled (B, in_dim)``.
    Returns:
        logits ``(B, num_classes)``.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: PositiveInt,
        hidden_dim: PositiveInt | None = None,
        dropout: Probability = 0.0,
        threshold: Annotated[float, Range(gt=0, lt=1)] = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.num_classes = num_classes
        self.threshold = threshold
        self.net = mlp_head(in_dim, hidden_dim, num_classes, dropout)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        return self.net(fused.pooled)

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``probs (B, num_classes)`` the per-label sigmoid and ``labels (B, num_classes)`` 0/1
        (probability above ``threshold``)."""
        probs = output.float().sigmoid()
        return {"probs": probs, "labels": (probs > self.threshold).long()}
