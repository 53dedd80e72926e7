"""Sum, mean or max over per-modality projections of the pooled vectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections
from mmzoo.ops.masking import present_modalities

__all__ = ["PoolingFusion", "SumFusion", "MeanFusion", "MaxFusion"]


class PoolingFusion(Fusion):
    """Pooling fusion: project each modality's pooled vector to ``dim``, then reduce over modalities.

    ``h_m = W_m pooled_m + b_m``; ``fused = sum_m h_m``, ``mean_m h_m`` or the feature-wise
    ``max_m h_m``, over the modalities *present* in the row (a modality is present when its mask
    has any ``True``). Subclasses fix :attr:`mode`: ``sum``, ``mean`` or ``max``.

    Missing modalities: an absent modality is left out of the reduction (for ``sum`` it
    contributes zero, ``mean`` divides by the number of present modalities, ``max`` ignores it),
    so the output never depends on its values. A row with no modality at all gives zeros.

    Method: the order-invariant pooling baselines of multimodal fusion (e.g. the sum/mean/max
    fusions compared in Baltrušaitis, Ahuja and Morency, 2019, "Multimodal Machine Learning: A
    Survey and Taxonomy").

    Args:
        dim: width of the fused vector (and of every projection).
        dropout: dropout on the fused vector.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``; for ``sum`` and ``mean`` also ``weights (B, M)``,
        each present modality's coefficient (1 for ``sum``, ``1 / #present`` for ``mean``).
    """

    mode: ClassVar[Literal["sum", "mean", "max"]] = "mean"
    handles_missing = True

    def __init__(self, input_dims: Mapping[str, int], dim: PositiveInt = 128, dropout: Probability = 0.0) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, self.mode)
        self.dim = dim
        self.proj = modality_projections(input_dims, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities(self.mode, self.modalities, encoded)
        present = present_modalities(encoded, self.modalities)  # (B, M)
        projected = torch.stack([self.proj[m](encoded[m].pooled) for m in self.modalities], dim=1)  # (B, M, dim)
        keep = present.unsqueeze(-1)
        weights: Tensor | None = None
        if self.mode == "max":
            filled = projected.masked_fill(~keep, torch.finfo(projected.dtype).min)
            fused = torch.where(present.any(dim=1, keepdim=True), filled.max(dim=1).values, 0.0)
        else:
            weights = present.to(projected.dtype)
            if self.mode == "mean":
                weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)
            fused = (torch.where(keep, projected, 0.0) * weights.unsqueeze(-1)).sum(dim=1)
        return Fused(pooled=self.drop(fused), weights=weights)


class SumFusion(PoolingFusion):
    """Sum fusion: the sum of per-modality projections of the pooled vectors (present ones only).

    See :class:`PoolingFusion`.

    Args:
        dim: width of the fused vector (and of every projection).
        dropout: dropout on the fused vector.
    """

    mode = "sum"


class MeanFusion(PoolingFusion):
    """Mean fusion: the mean of per-modality projections over the modalities present in each row.

    See :class:`PoolingFusion`.

    Args:
        dim: width of the fused vector (and of every projection).
        dropout: dropout on the fused vector.
    """

    mode = "mean"


class MaxFusion(PoolingFusion):
    """Max fusion: the feature-wise maximum of per-modality projections over present modalities.

    See :class:`PoolingFusion`.

    Args:
        dim: width of the fused vector (and of every projection).
        dropout: dropout on the fused vector.
    """

    mode = "max"
