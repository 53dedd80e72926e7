"""Concatenate the pooled vectors of every modality, then an MLP."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order

__all__ = ["ConcatFusion"]


class ConcatFusion(Fusion):
    """Concatenation fusion: an MLP over the pooled vectors of all modalities, concatenated.

    ``fused = MLP([pooled_m1; pooled_m2; ...])`` with modalities in sorted order.

    Works for any number of modalities. A modality missing from a row (all-false mask) enters as
    the zero vector, since encoders pool over real positions only; it must still be present in
    the batch.

    Method: concatenation ("early" fusion of pooled features), the usual multimodal baseline.

    Args:
        dim: width of the fused vector.
        hidden_dim: width of the hidden layer; ``null`` means no hidden layer (a single projection).
        dropout: dropout on the hidden layer.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 128,
        hidden_dim: PositiveInt | None = 256,
        dropout: Probability = 0.1,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "concat")
        self.dim = dim
        total = sum(input_dims[m] for m in self.modalities)
        if hidden_dim is None:
            self.mlp: nn.Module = nn.Linear(total, dim)
        else:
            self.mlp = nn.Sequential(
                nn.Linear(total, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim)
            )

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("concat", self.modalities, encoded)
        joined = torch.cat([encoded[m].pooled for m in self.modalities], dim=-1)
        return Fused(pooled=self.mlp(joined))
