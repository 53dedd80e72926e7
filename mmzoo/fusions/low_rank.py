"""Low-rank Multimodal Fusion: tensor fusion with a rank-``r`` factorized weight."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order

__all__ = ["LowRankFusion"]


class LowRankFusion(Fusion):
    """Low-rank fusion: a linear map of the tensor-fusion tensor whose weight has rank ``rank``.

    For each modality, ``rank`` factors ``W_m^(r)`` of shape ``(D_m + 1, dim)`` project
    ``[pooled_m; 1]``; the projections are multiplied elementwise across modalities and summed
    over ``r`` with learned fusion weights::

        fused = sum_r lambda_r * prod_m ([pooled_m; 1] @ W_m^(r)) + b

    This equals ``W t + b`` with ``t = ⊗_m [pooled_m; 1]`` (the tensor of the ``tensor`` fusion)
    and ``W = sum_r lambda_r ⊗_m W_m^(r)``, without ever building ``t``: cost grows linearly in
    the number of modalities.

    Missing modalities: like the ``tensor`` fusion, an absent modality's vector is replaced by
    zeros, so only its appended ``1`` survives (its factor contributes its bias row); the output
    ignores the absent modality's values.

    Method: Liu, Shen, Lakshminarasimhan, Liang, Zadeh and Morency, 2018, "Efficient Low-rank
    Multimodal Fusion with Modality-Specific Factors".

    Args:
        dim: width of the fused vector.
        rank: number of rank-one terms ``r``.
        dropout: dropout on each modality's input vector.

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
        rank: PositiveInt = 4,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "low_rank")
        if rank < 1:
            raise ValueError(f"rank must be at least 1, got {rank}")
        self.dim = dim
        self.rank = rank
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, input_dims[m] + 1, dim)))
                for m in self.modalities
            }
        )
        self.fusion_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("low_rank", self.modalities, encoded)
        product: Tensor | None = None
        for m in self.modalities:
            x = self.drop(encoded[m].pooled)
            x = torch.where(encoded[m].mask.any(dim=-1, keepdim=True), x, 0.0)
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=-1)  # (B, D_m + 1)
            projected = torch.einsum("bd,rdo->bro", x, self.factors[m])  # (B, rank, dim)
            product = projected if product is None else product * projected
        assert product is not None
        fused = torch.einsum("r,bro->bo", self.fusion_weights[0].to(product.dtype), product)
        return Fused(pooled=fused + self.bias.to(fused.dtype))
