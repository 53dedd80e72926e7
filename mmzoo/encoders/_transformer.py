"""The transformer pieces mmzoo's own encoders share: self-attention, the MLP, a pre-norm block,
positions. The attention fusions build on them too.

Attention goes through :func:`mmzoo.ops.attention.attention` with a key padding mask, so padded
positions are never attended to and rows without any real position give zeros.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.ops.attention import attention, check_heads

__all__ = [
    "SelfAttention",
    "transformer_mlp",
    "TransformerBlock",
    "Positions",
    "sinusoidal_positions",
    "sinusoidal_positions_2d",
]


class SelfAttention(nn.Module):
    """Multi-head self-attention over the real positions of each row.

    Args:
        dim: model width (a multiple of ``heads``).
        heads: number of attention heads.
        dropout: dropout on the attention weights (training only).

    Inputs:
        x: ``(B, T, dim)``; mask: bool ``(B, T)``, ``True`` at real positions (keys), or ``None``.
    Returns:
        ``(B, T, dim)``; the attention output at padded positions is zero (before the output
        projection's bias).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = check_heads(dim, heads)
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D/H)
        y = attention(
            q,
            k,
            v,
            key_padding_mask=mask,
            query_padding_mask=mask,  # padded positions' outputs are never read: skip them
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


def transformer_mlp(dim: int, mlp_ratio: float, dropout: float) -> nn.Sequential:
    """The MLP of a transformer block: ``Linear -> GELU -> Dropout -> Linear``.

    The hidden width is ``dim * mlp_ratio`` (rounded, at least 1). Maps ``(..., dim)`` to
    ``(..., dim)``.
    """
    hidden = max(1, round(dim * mlp_ratio))
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        dim: model width.
        heads: number of attention heads.
        mlp_ratio: hidden width of the MLP, as a multiple of ``dim``.
        dropout: dropout on the attention weights and after the attention and the MLP.

    Inputs:
        x: ``(B, T, dim)``; mask: bool ``(B, T)`` (``True`` at real positions) or ``None``.
    Returns:
        ``(B, T, dim)``; real positions depend on real positions only.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = transformer_mlp(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.mlp(self.norm2(x)))


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """The fixed sine/cosine position table of "Attention is all you need".

    Returns:
        float32 ``(length, dim)``.
    """
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    half = (dim + 1) // 2
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * (-math.log(10000.0) / max(half, 1)))
    angles = position * freq  # (length, half)
    table = torch.cat([angles.sin(), angles.cos()], dim=1)
    return table[:, :dim]


def sinusoidal_positions_2d(height: int, width: int, dim: int, device: torch.device | None = None) -> Tensor:
    """2-D sine/cosine positions for a ``height x width`` grid: half the width per axis.

    Returns:
        float32 ``(height * width, dim)``, row-major.
    """
    rows = sinusoidal_positions(height, dim // 2, device)  # (H, dim/2)
    cols = sinusoidal_positions(width, dim - dim // 2, device)  # (W, dim - dim/2)
    grid = torch.cat([rows[:, None, :].expand(-1, width, -1), cols[None, :, :].expand(height, -1, -1)], dim=-1)
    return grid.reshape(height * width, dim)


class Positions(nn.Module):
    """Adds position vectors: fixed sinusoids or a learned table of ``max_len`` rows.

    Positions are slot indices of the padded tensor (for right padding, the index in the row).

    Args:
        dim: model width.
        kind: ``sinusoidal`` (no parameters, any length) or ``learned``.
        max_len: longest sequence a learned table covers.

    Inputs:
        x: ``(B, T, dim)``.
    Returns:
        ``(B, T, dim)``.
    """

    def __init__(self, dim: int, kind: Literal["sinusoidal", "learned"] = "sinusoidal", max_len: int = 4096) -> None:
        super().__init__()
        if kind not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {kind!r}")
        self.kind = kind
        self.max_len = max_len
        self.dim = dim
        self.table = nn.Parameter(torch.randn(max_len, dim) * 0.02) if kind == "learned" else None

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence of {length} positions is longer than max_len={self.max_len}")
        if self.table is not None:
            return x + self.table[:length].to(x.dtype)
        return x + sinusoidal_positions(length, self.dim, x.device).to(x.dtype)
