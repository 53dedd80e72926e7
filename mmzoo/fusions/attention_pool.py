"""Attention pooling over modalities: a learned, per-row softmax weighting of pooled vectors."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections
from mmzoo.ops.masking import present_modalities

__all__ = ["AttentionPoolFusion"]


class AttentionPoolFusion(Fusion):
    """Attention pooling: project each modality's pooled vector, score it, softmax, weighted sum.

    ``h_m = W_m pooled_m``, ``s_m = w^T tanh(V h_m)``, ``a = softmax_m(s)`` over the modalities
    present in the row, ``fused = sum_m a_m h_m``.

    Method: additive attention pooling (Bahdanau et al., 2015, "Neural Machine Translation by
    Jointly Learning to Align and Translate"), applied over modalities as in attention-based
    multimodal fusion (Hori et al., 2017, "Attention-Based Multimodal Fusion for Video
    Description").

    Missing modalities: a modality whose mask is all-false in a row gets weight 0 and never
    reaches the output; a row with no modality at all gives zeros. ``Fused.weights (B, M)`` holds
    the weights (sorted modality order): they sum to 1 over the present modalities.

    Args:
        dim: width of the fused vector (and of each projected modality).
        hidden_dim: width of the scoring MLP.
        dropout: dropout on the projected vectors.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``, ``parts`` (modality -> ``(B, dim)``) and
        ``weights (B, M)``.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 64,
        hidden_dim: PositiveInt = 64,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "attention")
        self.dim = dim
        self.proj = modality_projections(input_dims, dim)
        self.score = nn.Sequential(nn.Linear(dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1))
        self.drop = nn.Dropout(dropout)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("attention", self.modalities, encoded)
        present = present_modalities(encoded, self.modalities)  # (B, M)
        parts = {m: self.drop(self.proj[m](encoded[m].pooled)) for m in self.modalities}
        stacked = torch.stack([parts[m] for m in self.modalities], dim=1)  # (B, M, dim)
        scores = self.score(stacked).squeeze(-1).float()  # (B, M)
        scores = scores.masked_fill(~present, torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=1) * present  # all-absent rows: zeros
        stacked = torch.where(present.unsqueeze(-1), stacked, torch.zeros_like(stacked))
        pooled = (weights.to(stacked.dtype).unsqueeze(-1) * stacked).sum(dim=1)
        return Fused(pooled=pooled, parts=parts, weights=weights)
