"""Hierarchical fusion: fuse the modalities at several encoder depths, then combine the levels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order, real_only
from mmzoo.ops.masking import masked_mean

__all__ = ["HierarchicalFusion"]


class HierarchicalFusion(Fusion):
    """Multi-level fusion of masked-mean pooled encoder depths.

    The depths of a modality are its :attr:`Encoded.layers` when the encoder gives them (mmzoo's
    ``transformer`` and ``conv1d`` encoders give every block's output), else just its final
    ``seq``. Levels are aligned from the top: level 1 uses each modality's last depth, level 2 the
    one before, and so on up to ``levels``; a modality with fewer depths than ``levels`` reuses its
    earliest depth for the remaining levels (so without ``layers`` every level sees ``seq``, each
    with its own MLP). At each level, every modality's depth is masked-mean pooled and layer-normed,
    the vectors are concatenated (sorted order) and a per-level MLP maps them to ``dim``. The levels
    are combined with learned softmax weights (``combine: softmax``) or concatenated and projected
    (``combine: concat``).

    Method: hierarchical (multi-level) feature fusion, e.g. Pérez-Rúa et al., 2019, "MFAS:
    Multimodal Fusion Architecture Search", and Vielzeuf et al., 2018, "CentralNet: a Multilayer
    Approach for Multimodal Fusion".

    Missing modalities: an absent modality's pooled vectors are zeroed (after the norm) at every
    level, so, as in ``concat``, it enters as a constant and the output never depends on its values.

    Args:
        dim: width of the fused vector and of every level.
        levels: number of depths fused, counted from the top.
        hidden_dim: hidden width of each level's MLP.
        dropout: dropout in the level MLPs.
        combine: ``softmax`` (learned weights over levels) or ``concat`` (concatenate, then linear).

    Inputs:
        encoded: modality -> :class:`Encoded` with ``seq (B, T_m, D_m)``, ``mask (B, T_m)`` and
        optionally ``layers`` (each ``(B, T_m, D_m)``).
    Returns:
        :class:`Fused` with ``pooled (B, dim)``.
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 64,
        levels: PositiveInt = 2,
        hidden_dim: PositiveInt = 64,
        dropout: Probability = 0.0,
        combine: Literal["softmax", "concat"] = "softmax",
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "hierarchical")
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        if combine not in ("softmax", "concat"):
            raise ValueError(f"combine must be 'softmax' or 'concat', got {combine!r}")
        self.dim = dim
        self.levels = levels
        self.combine = combine
        total = sum(input_dims[m] for m in self.modalities)
        self.norms = nn.ModuleList(
            nn.ModuleDict({m: nn.LayerNorm(input_dims[m]) for m in self.modalities}) for _ in range(levels)
        )
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(total, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim))
            for _ in range(levels)
        )
        self.level_logits = nn.Parameter(torch.zeros(levels)) if combine == "softmax" else None
        self.out = nn.Linear(levels * dim, dim) if combine == "concat" else None

    @staticmethod
    def depths(item: Encoded, levels: int) -> list[Tensor]:
        """The sequences fused at each level, top first: the last ``levels`` of ``layers`` (or
        ``(seq,)``), the earliest repeated when there are fewer."""
        stack = list(item.layers) if item.layers else [item.seq]
        return [stack[max(len(stack) - 1 - level, 0)] for level in range(levels)]

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("hierarchical", self.modalities, encoded)
        depths = {m: self.depths(encoded[m], self.levels) for m in self.modalities}
        fused = []
        for level in range(self.levels):
            vectors = []
            for m in self.modalities:
                mask = encoded[m].mask
                vector = self.norms[level][m](masked_mean(real_only(depths[m][level], mask), mask))
                vectors.append(vector * mask.any(dim=1, keepdim=True).to(vector.dtype))
            fused.append(self.mlps[level](torch.cat(vectors, dim=-1)))
        if self.level_logits is not None:
            weights = self.level_logits.softmax(dim=0).to(fused[0].dtype)
            pooled = (torch.stack(fused, dim=1) * weights[None, :, None]).sum(dim=1)
        else:
            assert self.out is not None
            pooled = self.out(torch.cat(fused, dim=-1))
        return Fused(pooled=pooled)
