"""Tensor Fusion Network: the outer product of ``[z_m; 1]`` over modalities, then an MLP."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections

__all__ = ["TensorFusion"]

_MAX_TENSOR = 1 << 20


class TensorFusion(Fusion):
    """Tensor fusion: an MLP over the flattened outer product of ``[z_m; 1]`` for every modality.

    ``z_m = W_m pooled_m`` (width ``rank_dim``); ``t = [z_1; 1] ⊗ [z_2; 1] ⊗ ... ⊗ [z_M; 1]``,
    flattened to ``(rank_dim + 1) ** M`` values; ``fused = MLP(t)``. The appended ``1`` keeps
    every unimodal and lower-order interaction term inside the tensor.

    Missing modalities: an absent modality's ``z_m`` is replaced by zeros, so only its appended
    ``1`` survives and the tensor holds the interactions among the present modalities only; the
    output ignores the absent modality's values.

    Method: Zadeh, Chen, Poria, Cambria and Morency, 2017, "Tensor Fusion Network for Multimodal
    Sentiment Analysis".

    Args:
        dim: width of the fused vector.
        rank_dim: width of each ``z_m``; the tensor has ``(rank_dim + 1) ** M`` values.
        hidden_dim: width of the MLP's hidden layer.
        dropout: dropout on the tensor and on the hidden layer.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 128,
        rank_dim: PositiveInt = 8,
        hidden_dim: PositiveInt = 128,
        dropout: Probability = 0.1,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "tensor")
        self.dim = dim
        self.tensor_dim = (rank_dim + 1) ** len(self.modalities)
        if self.tensor_dim > _MAX_TENSOR:
            raise ValueError(
                f"tensor fusion of {len(self.modalities)} modalities with rank_dim={rank_dim} makes a tensor of"
                f" {self.tensor_dim} values per row; lower rank_dim or use the low_rank fusion"
            )
        self.proj = modality_projections(input_dims, rank_dim)
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(self.tensor_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
        )

    def outer(self, encoded: Mapping[str, Encoded]) -> Tensor:
        """The flattened tensor ``t``: ``(B, (rank_dim + 1) ** M)``, modalities in sorted order."""
        check_modalities("tensor", self.modalities, encoded)
        out: Tensor | None = None
        for m in self.modalities:
            z = self.proj[m](encoded[m].pooled)
            z = torch.where(encoded[m].mask.any(dim=-1, keepdim=True), z, 0.0)
            z = torch.cat([z, z.new_ones(z.shape[0], 1)], dim=-1)  # (B, rank_dim + 1)
            out = z if out is None else (out.unsqueeze(-1) * z.unsqueeze(1)).flatten(1)
        assert out is not None
        return out

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        return Fused(pooled=self.mlp(self.outer(encoded)))
