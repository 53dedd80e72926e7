"""Early fusion: one joint transformer over the projected sequences of every modality."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.encoders._transformer import TransformerBlock
from mmzoo.fusions._blocks import check_modalities, modality_order, modality_projections
from mmzoo.ops.masking import masked_mean

__all__ = ["EarlyFusion"]


class EarlyFusion(Fusion):
    """Early fusion: a small transformer over all modalities' sequences, joined into one.

    ``x_m = W_m seq_m + e_m`` (a learned modality-type embedding ``e_m``); with ``combine:
    concat`` the ``x_m`` are concatenated along time (sorted modality order), with ``combine:
    sum`` they are added position by position (all modalities must then have the same length,
    e.g. time-aligned features). ``depth`` pre-norm transformer blocks (attention through
    :func:`mmzoo.ops.attention.attention`, keys masked) then run over the joint sequence, and
    ``fused`` is the masked mean of its real positions. Position information comes from the
    encoders; the fusion adds none.

    Missing modalities and padding: padded positions are zeroed before the projection and masked
    as keys, so they never reach a real position; an absent modality (all-false mask) therefore
    drops out of the joint sequence and the output ignores its values. A row with no real
    position at all gives zeros.

    Method: early (feature-level) fusion with a single-stream joint transformer, as in e.g.
    VisualBERT (Li, Yatskar, Yin, Hsieh and Chang, 2019, "VisualBERT: A Simple and Performant
    Baseline for Vision and Language") and the "early fusion" of Nagrani et al., 2021,
    "Attention Bottlenecks for Multimodal Fusion".

    Args:
        dim: width of the joint sequence and of the fused vector (a multiple of ``heads``).
        depth: number of transformer blocks.
        heads: attention heads per block.
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``dim``.
        dropout: dropout in the blocks.
        combine: ``concat`` (join along time) or ``sum`` (add time-aligned positions).

    Inputs:
        encoded: modality -> :class:`Encoded` with ``seq (B, T_m, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``, ``seq (B, T, dim)`` and ``mask (B, T)``, where
        ``T = sum_m T_m`` (``concat``) or the common length (``sum``).
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 128,
        depth: PositiveInt = 2,
        heads: PositiveInt = 4,
        mlp_ratio: PositiveFloat = 2.0,
        dropout: Probability = 0.1,
        combine: Literal["concat", "sum"] = "concat",
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "early")
        if combine not in ("concat", "sum"):
            raise ValueError(f"combine must be 'concat' or 'sum', got {combine!r}")
        self.dim = dim
        self.combine = combine
        self.proj = modality_projections(input_dims, dim)
        self.type_embedding = nn.Parameter(0.02 * torch.randn(len(self.modalities), dim))
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def _project(self, encoded: Mapping[str, Encoded]) -> list[tuple[Tensor, Tensor]]:
        """Per modality: ``(x_m (B, T_m, dim), mask (B, T_m))`` with padded positions zero."""
        projected = []
        for i, m in enumerate(self.modalities):
            seq, mask = encoded[m].seq, encoded[m].mask
            keep = mask.unsqueeze(-1)
            x = self.proj[m](torch.where(keep, seq, 0.0)) + self.type_embedding[i]
            projected.append((torch.where(keep, x, 0.0), mask))
        return projected

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("early", self.modalities, encoded)
        if self.combine == "sum":
            lengths = {m: encoded[m].seq.shape[1] for m in self.modalities}
            if len(set(lengths.values())) > 1:
                raise ValueError(
                    f"early fusion with combine: sum needs sequences of one length, got {lengths};"
                    " use combine: concat, or encoders that keep the modalities time-aligned"
                )
        projected = self._project(encoded)
        if self.combine == "sum":
            x = torch.stack([p[0] for p in projected]).sum(dim=0)
            mask = torch.stack([p[1] for p in projected]).any(dim=0)
        else:
            x = torch.cat([p[0] for p in projected], dim=1)
            mask = torch.cat([p[1] for p in projected], dim=1)
        for block in self.blocks:
            x = block(x, mask)
        x = torch.where(mask.unsqueeze(-1), self.norm(x), 0.0)
        return Fused(pooled=masked_mean(x, mask), seq=x, mask=mask)
