"""Regression from the fused vector: one or more real values per row."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Head
from mmzoo.heads._mlp import mlp_head

__all__ = ["RegressionHead"]


class RegressionHead(Head):
    """Real-valued predictions from the fused vector (``Fused.pooled``).

    Args:
        outputs: number of values per row; with ``1`` the output is ``(B,)``.
        hidden_dim: width of an optional hidden layer; ``null`` for a linear head.
        dropout: dropout before the output layer.

    Inputs:
        fused: :class:`Fused` with ``pooled (B, in_dim)``.
    Returns:
        values ``(B,)`` when ``outputs`` is 1, else ``(B, outputs)``.
    """

    def __init__(
        self, in_dim: int, outputs: PositiveInt = 1, hidden_dim: PositiveInt | None = None, dropout: Probability = 0.0
    ) -> None:
        super().__init__()
        if outputs < 1:
            raise ValueError(f"outputs must be at least 1, got {outputs}")
        self.outputs = outputs
        self.net = mlp_head(in_dim, hidden_dim, outputs, dropout)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        out = self.net(fused.pooled)
        return out.squeeze(-1) if self.outputs == 1 else out

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``value (B,)`` or ``(B, outputs)``: the predicted values."""
        return {"value": output.float()}
