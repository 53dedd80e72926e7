"""Attention bottlenecks (MBT): modalities exchange information only through a few shared tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.encoders._transformer import TransformerBlock
from mmzoo.fusions._blocks import (
    attention_blocks,
    check_modalities,
    mean_over_present,
    modality_order,
    modality_projections,
    real_only,
)
from mmzoo.ops.masking import masked_mean, present_modalities

__all__ = ["BottleneckFusion"]


class BottleneckFusion(Fusion):
    """Multimodal bottleneck transformer: per-modality self-attention over ``[tokens_m; z]``.

    Each modality's sequence is projected to ``dim``. ``num_bottlenecks`` learned tokens ``z`` are
    shared. In every layer, each modality (its own weights) runs a pre-norm transformer block over
    ``[tokens_m; z]`` (with ``pool: cls``, ``[cls_m; tokens_m; z]``) and the bottleneck becomes the
    average over modalities of their updated copies ``z_m``. Tokens of different modalities never
    attend to each other: information crosses only through ``z``, so the first layer's outputs of
    one modality do not depend on any other.

    Pooling: each modality's vector is the masked mean of its final tokens (``pool: mean``) or its
    own CLS token (``pool: cls``), normed; the fused vector is the mean over the modalities present
    in the row (MBT averages the per-modality predictions; here the representations).

    Method: Nagrani et al., 2021, "Attention Bottlenecks for Multimodal Fusion".

    Missing modalities: an absent modality's tokens are masked out as keys, its bottleneck copy is
    left out of the average (rows with no modality keep the bottleneck unchanged), and it is left
    out of the final mean, so the output never depends on its values.

    Args:
        dim: model width and width of the fused vector.
        heads: attention heads (``dim`` must be a multiple).
        layers: number of fusion layers (bottleneck exchanges).
        num_bottlenecks: number of shared bottleneck tokens.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLPs.
        pool: ``mean`` (masked mean of each modality's tokens) or ``cls`` (a learned CLS token per
            modality).

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
        layers: PositiveInt = 2,
        num_bottlenecks: PositiveInt = 4,
        mlp_ratio: PositiveFloat = 2.0,
        dropout: Probability = 0.0,
        pool: Literal["mean", "cls"] = "mean",
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "bottleneck", at_least=2)
        if layers < 1 or num_bottlenecks < 1:
            raise ValueError(f"layers and num_bottlenecks must be at least 1, got {layers}, {num_bottlenecks}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        self.dim = dim
        self.pool = pool
        self.proj = modality_projections(input_dims, dim)
        self.bottleneck = nn.Parameter(torch.randn(1, num_bottlenecks, dim) * 0.02)
        self.cls = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, 1, dim) * 0.02) for m in self.modalities} if pool == "cls" else {}
        )
        self.layers = nn.ModuleList(
            nn.ModuleDict({m: TransformerBlock(dim, heads, mlp_ratio, dropout) for m in self.modalities})
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def share(self, updates: Tensor, present: Tensor, previous: Tensor) -> Tensor:
        """The new bottleneck: the mean of the modalities' updated copies over present modalities.

        Inputs:
            updates: ``(B, M, N, dim)``; present: bool ``(B, M)``; previous: ``(B, N, dim)``.
        Returns:
            ``(B, N, dim)``; rows without any modality keep ``previous``.
        """
        batch, _, tokens, dim = updates.shape
        mean = mean_over_present(updates.flatten(2), present).view(batch, tokens, dim)
        return torch.where(present.any(dim=1)[:, None, None], mean, previous)

    def blocks(self) -> list[nn.Module]:
        """The attention blocks, sharded, checkpointed and compiled one by one (``mmzoo.scaling``)."""
        return attention_blocks(self)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("bottleneck", self.modalities, encoded)
        masks, xs = {}, {}
        for m in self.modalities:
            mask = encoded[m].mask
            x = self.proj[m](real_only(encoded[m].seq, mask))
            if self.pool == "cls":
                x = torch.cat([self.cls[m].to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)
                mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
            masks[m], xs[m] = mask, x
        batch, tokens = xs[self.modalities[0]].shape[0], self.bottleneck.shape[1]
        z = self.bottleneck.to(xs[self.modalities[0]].dtype).expand(batch, -1, -1)
        z_mask = masks[self.modalities[0]].new_ones(batch, tokens)
        present = present_modalities(encoded, self.modalities)  # (B, M)
        for layer in self.layers:
            updates = []
            for m in self.modalities:
                length = xs[m].shape[1]
                out = layer[m](torch.cat([xs[m], z], dim=1), torch.cat([masks[m], z_mask], dim=1))
                xs[m] = out[:, :length]
                updates.append(out[:, length:])
            z = self.share(torch.stack(updates, dim=1), present, z)
        parts = {}
        for m in self.modalities:
            x = self.norm(xs[m])
            parts[m] = x[:, 0] if self.pool == "cls" else masked_mean(x, masks[m])
        pooled = mean_over_present(torch.stack([parts[m] for m in self.modalities], dim=1), present)
        return Fused(pooled=pooled, parts=parts)
