"""Regression from the fused vector: one or more real values per row."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Head

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
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_dim is not None:
            layers += [nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout)]
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        out = self.net(fused.pooled)
        return out.squeeze(-1) if self.outputs == 1 else out

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``value (B,)`` or ``(B, outputs)``: the predicted values."""
        return {"value": output.float()}
