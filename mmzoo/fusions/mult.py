"""Multimodal Transformer (MulT): directional pairwise cross-modal transformers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.encoders._transformer import TransformerBlock
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

__all__ = ["MulTFusion"]


class MulTFusion(Fusion):
    """MulT: for every target modality, cross-modal transformers from every other modality.

    Each sequence is projected to ``dim``. For each target ``m`` and each source ``s != m``, a
    stack of ``layers`` cross-modal blocks (queries: ``m``; keys/values: the *projected source*
    ``s`` at every layer, as in MulT) gives ``Z_{s->m}``; the per-target outputs are concatenated
    over sources along features, projected back to ``dim`` (MulT keeps the wider width; mmzoo
    projects to stay compact), and run through ``layers`` self-attention blocks. Each target is
    then normed and masked-mean pooled (MulT takes the last step; the mean also works for padded
    and unaligned sequences), and the fused vector is the mean over the targets present in the
    row. Temporal convolutions and positions of the original are left out.

    Method: Tsai et al., 2019, "Multimodal Transformer for Unaligned Multimodal Language
    Sequences".

    Missing modalities: an absent source is masked out as keys, so its cross-modal blocks give a
    zero attention update (the target's stream goes on through its residual path and MLP alone),
    and an absent target is left out of the final mean; the output never depends on an absent
    modality's values, and rows with no modality give zeros.

    Args:
        dim: model width and width of the fused vector.
        heads: attention heads (``dim`` must be a multiple).
        layers: cross-modal blocks per (source, target) pair, and self-attention blocks per target.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLPs.

    Inputs:
        encoded: modality -> :class:`Encoded` with ``seq (B, T_m, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)`` and ``parts`` (target modality -> ``(B, dim)``).
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
        self.modalities = modality_order(input_dims, "mult", at_least=2)
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.dim = dim
        sources = len(self.modalities) - 1
        self.proj = modality_projections(input_dims, dim)
        self.cross = nn.ModuleDict(
            {
                f"{s}->{m}": nn.ModuleList(CrossAttentionBlock(dim, heads, mlp_ratio, dropout) for _ in range(layers))
                for m in self.modalities
                for s in self.modalities
                if s != m
            }
        )
        self.merge = nn.ModuleDict({m: nn.Linear(sources * dim, dim) for m in self.modalities})
        self.self_attn = nn.ModuleDict(
            {
                m: nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(layers))
                for m in self.modalities
            }
        )
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The attention blocks, sharded, checkpointed and compiled one by one (``mmzoo.scaling``)."""
        return attention_blocks(self)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("mult", self.modalities, encoded)
        masks = {m: encoded[m].mask for m in self.modalities}
        xs = {m: self.proj[m](real_only(encoded[m].seq, masks[m])) for m in self.modalities}
        parts = {}
        for m in self.modalities:
            streams = []
            for s in self.modalities:
                if s == m:
                    continue
                z = xs[m]
                for block in self.cross[f"{s}->{m}"]:
                    z = block(z, xs[s], masks[s])
                streams.append(z)
            z = self.merge[m](torch.cat(streams, dim=-1))
            for block in self.self_attn[m]:
                z = block(z, masks[m])
            parts[m] = masked_mean(self.norm(z), masks[m])
        present = torch.stack([masks[m].any(dim=1) for m in self.modalities], dim=1)
        pooled = mean_over_present(torch.stack([parts[m] for m in self.modalities], dim=1), present)
        return Fused(pooled=pooled, parts=parts)
