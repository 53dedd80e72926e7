"""A small transformer encoder over token ids or feature frames (text, or audio such as log-mel)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import InputProjection
from mmzoo.encoders._subsample import ConvSubsampling
from mmzoo.encoders._transformer import Positions, TransformerBlock
from mmzoo.ops.masking import masked_mean

__all__ = ["TransformerEncoder"]


class TransformerEncoder(Encoder):
    """Pre-norm transformer encoder over tokens or feature frames, with an optional conv front-end.

    This is also mmzoo's audio transformer: over ``features`` (e.g. log-mel) set ``subsample`` to
    shorten the sequence with stride-2 convolutions before attention (``4`` turns 100 frames per
    second into 25). Attention only sees real positions (through :func:`mmzoo.ops.attention.attention`);
    padded positions of ``seq`` are zero and never change ``pooled``; rows without any real
    position give zeros.

    Args:
        dim: model width.
        layers: number of transformer blocks.
        heads: attention heads per block (``dim`` must be a multiple).
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention, MLP and on the embedded input.
        max_len: longest (subsampled) sequence; only limits ``positions: learned``.
        positions: ``sinusoidal`` (fixed) or ``learned`` position vectors.
        subsample: time reduction by stride-2 convolutions before the blocks (1, 2, 4, 8...); a
            step is real when the input frame at its centre is real.
        pool: ``mean`` over real positions, or ``cls`` (a learned token prepended to every row;
            zeros for rows without any real position).

    Inputs:
        values: ``(B, T, F)`` features or ``(B, T)`` token ids; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T', dim)`` (``T' = ceil(T / subsample)``), ``mask (B, T')``,
        ``pooled (B, dim)``, and ``layers``: every block's output ``(B, T', dim)`` (before the final
        norm, without the CLS token, zero at padded positions), input to output.
    """

    input_kinds = ("tokens", "features")

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 128,
        layers: PositiveInt = 2,
        heads: PositiveInt = 4,
        mlp_ratio: PositiveFloat = 4.0,
        dropout: Probability = 0.1,
        max_len: PositiveInt = 4096,
        positions: Literal["sinusoidal", "learned"] = "sinusoidal",
        subsample: PositiveInt = 1,
        pool: Literal["mean", "cls"] = "mean",
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        self.dim = dim
        self.pool = pool
        self.input = InputProjection(input_spec, dim)
        self.subsample = ConvSubsampling(dim, subsample, dropout)
        self.positions = Positions(dim, positions, max_len)
        self.input_drop = nn.Dropout(dropout)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if pool == "cls" else None
        self.layers = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks, input to output."""
        return list(self.layers)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        x, mask = self.subsample(self.input(values), mask)
        x = self.input_drop(self.positions(x))
        attend = mask
        if self.cls is not None:
            x = torch.cat([self.cls.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)
            attend = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        hidden = []
        for block in self.layers:
            x = block(x, attend)
            hidden.append(x)
        x = self.norm(x)
        has_any = mask.any(dim=1, keepdim=True).to(x.dtype)  # (B, 1)
        if self.cls is not None:
            pooled, x = x[:, 0] * has_any, x[:, 1:]
        seq = x * mask.unsqueeze(-1).to(x.dtype)
        if self.cls is None:
            pooled = masked_mean(seq, mask)
        gate = mask.unsqueeze(-1).to(x.dtype)
        start = 0 if self.cls is None else 1
        layers = tuple(h[:, start:] * gate for h in hidden)
        return Encoded(seq=seq, mask=mask, pooled=pooled, layers=layers)
