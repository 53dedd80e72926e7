"""Gated Multimodal Unit: tanh projections mixed by gates computed from all inputs."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections
from mmzoo.ops.masking import present_modalities

__all__ = ["GatedFusion"]


class GatedFusion(Fusion):
    """Gated Multimodal Unit (GMU), generalized from two to ``M`` modalities.

    ``h_m = tanh(W_m pooled_m)``; gate logits ``g = W_z [pooled_1; ...; pooled_M]`` give one
    logit per modality (and per feature, with ``per_feature``); ``z = softmax_m(g)`` and
    ``fused = sum_m z_m * h_m``. For two modalities the softmax over two logits is the paper's
    sigmoid gate ``z * h_1 + (1 - z) * h_2``.

    Missing modalities: an absent modality's gate logits are masked out before the softmax (so
    it gets gate zero) and its input enters the gate as zeros; the output ignores its values. A
    row with no modality at all gives zeros.

    Method: Arevalo, Solorio, Montes-y-Gómez and González, 2017, "Gated Multimodal Units for
    Information Fusion".

    Args:
        dim: width of the fused vector (and of every ``h_m``).
        per_feature: one gate per modality and feature, as in the paper; ``false``: one gate per
            modality.
        dropout: dropout on the fused vector.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)`` and ``weights (B, M)``: each modality's gate
        (averaged over features), rows summing to one over present modalities.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 128,
        per_feature: bool = True,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "gated")
        self.dim = dim
        self.per_feature = per_feature
        self.proj = modality_projections(input_dims, dim)
        count = len(self.modalities)
        total = sum(input_dims[m] for m in self.modalities)
        self.gate = nn.Linear(total, count * dim if per_feature else count)
        self.drop = nn.Dropout(dropout)

    def gates(self, encoded: Mapping[str, Encoded]) -> torch.Tensor:
        """The gates ``z``: ``(B, M, dim)`` (``(B, M, 1)`` without ``per_feature``), zero where absent."""
        present = present_modalities(encoded, self.modalities)  # (B, M)
        inputs = [torch.where(present[:, i, None], encoded[m].pooled, 0.0) for i, m in enumerate(self.modalities)]
        logits = self.gate(torch.cat(inputs, dim=-1)).view(present.shape[0], len(self.modalities), -1).float()
        logits = logits.masked_fill(~present.unsqueeze(-1), torch.finfo(logits.dtype).min)
        # A row with nothing present would get a uniform softmax: zero it instead.
        return logits.softmax(dim=1) * present.unsqueeze(-1)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("gated", self.modalities, encoded)
        hidden = torch.stack([torch.tanh(self.proj[m](encoded[m].pooled)) for m in self.modalities], dim=1)
        z = self.gates(encoded).to(hidden.dtype)  # (B, M, dim or 1)
        fused = (z * hidden).sum(dim=1)
        return Fused(pooled=self.drop(fused), weights=z.mean(dim=-1))
