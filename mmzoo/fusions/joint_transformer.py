"""Single-stream fusion: one transformer over the concatenated sequences of all modalities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.encoders._transformer import Positions, TransformerBlock
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections, real_only
from mmzoo.ops.masking import masked_mean

__all__ = ["JointTransformerFusion"]


class JointTransformerFusion(Fusion):
    """Single-stream transformer fusion over ``[CLS; tokens_m1; tokens_m2; ...]``.

    Each modality's sequence is projected to ``dim`` and gets a learned modality-type embedding
    (and, with ``positions: true``, a learned position embedding of its slot index, shared by the
    modalities); the sequences are concatenated along time in sorted modality order with the joint
    key padding mask, and ``layers`` pre-norm self-attention blocks run over everything.

    Method: single-stream multimodal transformers, e.g. Chen et al., 2020, "UNITER: UNiversal
    Image-TExt Representation Learning", and Li et al., 2019, "VisualBERT: A Simple and Performant
    Baseline for Vision and Language".

    Missing modalities: an absent modality's tokens are masked out as keys and left out of the
    pooled vector (the CLS token is always real), so the output never depends on their values.

    Args:
        dim: model width and width of the fused vector.
        heads: attention heads (``dim`` must be a multiple).
        layers: number of transformer blocks.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLPs.
        pool: ``cls`` (a learned token prepended to the joint sequence) or ``mean`` (masked mean
            over the real tokens of all modalities).
        positions: add learned position embeddings (per modality, slot index within its sequence).
        max_len: longest per-modality sequence the position table covers (with ``positions``).

    Inputs:
        encoded: modality -> :class:`Encoded` with ``seq (B, T_m, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``, ``seq (B, T, dim)`` and ``mask (B, T)`` where
        ``T = sum_m T_m`` (``+ 1`` for the CLS token, first, with ``pool: cls``); ``seq`` is zero at
        padded positions.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 64,
        heads: PositiveInt = 4,
        layers: PositiveInt = 2,
        mlp_ratio: PositiveFloat = 2.0,
        dropout: Probability = 0.0,
        pool: Literal["cls", "mean"] = "cls",
        positions: bool = False,
        max_len: PositiveInt = 512,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "joint_transformer")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.dim = dim
        self.pool = pool
        self.proj = modality_projections(input_dims, dim)
        self.type_embedding = nn.Parameter(torch.randn(len(self.modalities), dim) * 0.02)
        self.positions = Positions(dim, "learned", max_len) if positions else None
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if pool == "cls" else None
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("joint_transformer", self.modalities, encoded)
        pieces, masks = [], []
        for index, m in enumerate(self.modalities):
            x = self.proj[m](real_only(encoded[m].seq, encoded[m].mask))
            if self.positions is not None:
                x = self.positions(x)
            pieces.append(x + self.type_embedding[index].to(x.dtype))
            masks.append(encoded[m].mask)
        if self.cls is not None:
            batch = masks[0].shape[0]
            pieces.insert(0, self.cls.to(pieces[0].dtype).expand(batch, -1, -1))
            masks.insert(0, masks[0].new_ones(batch, 1))
        x, mask = torch.cat(pieces, dim=1), torch.cat(masks, dim=1)
        for block in self.blocks:
            x = block(x, mask)
        seq = real_only(self.norm(x), mask)
        pooled = seq[:, 0] if self.cls is not None else masked_mean(seq, mask)
        return Fused(pooled=pooled, seq=seq, mask=mask)
