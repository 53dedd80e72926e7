"""Bidirectional co-attention: every modality's sequence attends to the other modalities'."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import (
    CrossAttentionBlock,
    attention_blocks,
    check_modalities,
    mean_over_present,
    modality_order,
    modality_projections,
    real_only,
)
from mmzoo.ops.masking import masked_mean

__all__ = ["CrossAttentionFusion"]


class CrossAttentionFusion(Fusion):
    """Co-attention fusion: stacked co-attentional layers, then pooling per modality and a mean.

    Each modality's sequence is projected to ``dim``. In every layer, each modality (its own
    weights) runs a pre-norm cross-attention block whose queries are its tokens and whose
    keys/values are the concatenation of the other modalities' tokens from the previous layer
    (with their key padding masks), followed by a residual MLP. With two modalities this is
    ViLBERT's co-attentional transformer layer; with more, each stream attends to all the others.
    Each stream is then normed and masked-mean pooled, and the fused vector is the mean of the
    per-modality vectors over the modalities present in the row (so ``parts`` share one space).

    Method: Lu et al., 2019, "ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations
    for Vision-and-Language Tasks" (co-attentional transformer layers).

    Missing modalities: an absent modality's tokens are masked out as keys for the others (a
    stream with no real key left gets a zero attention update) and its own stream is left out of
    the final mean, so the output never depends on its values; rows with no modality give zeros.

    Args:
        dim: model width and width of the fused vector.
        heads: attention heads (``dim`` must be a multiple).
        layers: number of co-attentional layers.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLPs.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``seq (B, T_m, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)`` and ``parts`` (modality -> ``(B, dim)``).
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 64,
        heads: PositiveInt = 4,
        layers: PositiveInt = 1,
        mlp_ratio: PositiveFloat = 2.0,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "cross_attention", at_least=2)
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.dim = dim
        self.proj = modality_projections(input_dims, dim)
        self.layers = nn.ModuleList(
            nn.ModuleDict({m: CrossAttentionBlock(dim, heads, mlp_ratio, dropout) for m in self.modalities})
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The attention blocks, sharded, checkpointed and compiled one by one (``mmzoo.scaling``)."""
        return attention_blocks(self)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("cross_attention", self.modalities, encoded)
        masks = {m: encoded[m].mask for m in self.modalities}
        xs = {m: self.proj[m](real_only(encoded[m].seq, masks[m])) for m in self.modalities}
        for layer in self.layers:
            updated = {}
            for m in self.modalities:
                others = [s for s in self.modalities if s != m]
                context = torch.cat([xs[s] for s in others], dim=1)
                context_mask = torch.cat([masks[s] for s in others], dim=1)
                updated[m] = layer[m](xs[m], context, context_mask)
            xs = updated
        parts = {m: masked_mean(self.norm(xs[m]), masks[m]) for m in self.modalities}
        present = torch.stack([masks[m].any(dim=1) for m in self.modalities], dim=1)
        pooled = mean_over_present(torch.stack([parts[m] for m in self.modalities], dim=1), present)
        return Fused(pooled=pooled, parts=parts)
