"""Multi-modal Factorized Bilinear pooling (MFB), extended to any number of modalities."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections

__all__ = ["BilinearFusion"]


class BilinearFusion(Fusion):
    """Factorized bilinear pooling: product of ``k``-factor projections, sum-pooled, normalized.

    ``e_m = U_m pooled_m`` (width ``factors * out_dim``); ``e = dropout(prod_m e_m)``;
    ``z = sum over each group of factors consecutive values of e`` (width ``out_dim``);
    ``z = sign(z) sqrt(|z|)`` (power normalization), ``z = z / ||z||_2``; ``fused = W z + b``.
    With two modalities this is MFB; with more, the elementwise product runs over all of them
    (a factorized multilinear pooling).

    Missing modalities: an absent modality's ``e_m`` is replaced by ones, the identity of the
    product, so the pooling runs over the present modalities only and the output ignores the
    absent modality's values.

    Method: Yu, Yu, Fan and Tao, 2017, "Multi-modal Factorized Bilinear Pooling with
    Co-Attention Learning for Visual Question Answering".

    Args:
        dim: width of the fused vector.
        out_dim: width ``o`` of the pooled bilinear vector ``z``.
        factors: number of factors ``k`` summed per output value.
        dropout: dropout on the expanded product ``e``.

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
        out_dim: PositiveInt = 256,
        factors: PositiveInt = 5,
        dropout: Probability = 0.1,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "bilinear")
        self.dim = dim
        self.out_dim = out_dim
        self.factors = factors
        self.proj = modality_projections(input_dims, factors * out_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(out_dim, dim)

    def pool(self, encoded: Mapping[str, Encoded]) -> Tensor:
        """The normalized bilinear vector ``z``: ``(B, out_dim)``, unit L2 norm per row."""
        check_modalities("bilinear", self.modalities, encoded)
        product: Tensor | None = None
        for m in self.modalities:
            e = self.proj[m](encoded[m].pooled)
            e = torch.where(encoded[m].mask.any(dim=-1, keepdim=True), e, 1.0)
            product = e if product is None else product * e
        assert product is not None
        z = self.drop(product).float().view(-1, self.out_dim, self.factors).sum(dim=-1)
        z = torch.sign(z) * torch.sqrt(z.abs() + 1e-8)  # the epsilon keeps the gradient finite at 0
        return F.normalize(z, dim=-1)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        return Fused(pooled=self.out(self.pool(encoded)))
