"""Pieces the fusions share: the sorted modality order and the per-modality input projections
every fusion builds on, cross-attention and a pre-norm cross-attention block for the attention
fusions, and averaging over the modalities present in each row.

Attention goes through :func:`mmzoo.ops.attention.attention` with a key padding mask, so padded
positions and missing modalities are never attended to, and queries without any real key get
zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from mmzoo.contracts import Encoded
from mmzoo.encoders._transformer import TransformerBlock, transformer_mlp
from mmzoo.ops.attention import attention, check_heads

__all__ = [
    "modality_order",
    "modality_projections",
    "CrossAttention",
    "CrossAttentionBlock",
    "attention_blocks",
    "real_only",
    "mean_over_present",
    "check_modalities",
]


def modality_order(input_dims: Mapping[str, int], fusion: str, at_least: Literal[1, 2] = 1) -> list[str]:
    """The modalities a fusion is built for, sorted by name.

    Every fusion keeps this one order for its per-modality parameters, for the ``(B, M, ...)``
    stacks it builds and for concatenations, so that a fusion built from the same ``input_dims``
    always lines its weights up with the same modalities.

    Args:
        input_dims: modality -> width ``D_m`` of its encoded vectors.
        fusion: the fusion's registered name, for the error message.
        at_least: how many modalities the fusion needs (1 or 2).

    Raises:
        ValueError: fewer than ``at_least`` modalities.
    """
    if len(input_dims) < at_least:
        raise ValueError(f"{fusion} fusion needs at least {'one modality' if at_least == 1 else 'two modalities'}")
    return sorted(input_dims)


def modality_projections(input_dims: Mapping[str, int], dim: int) -> nn.ModuleDict:
    """One ``nn.Linear(D_m, dim)`` per modality, keyed by modality, built in sorted order.

    Each maps a modality's pooled vector ``(B, D_m)`` or sequence ``(B, T_m, D_m)`` to width
    ``dim`` (``(B, dim)`` or ``(B, T_m, dim)``).
    """
    return nn.ModuleDict({m: nn.Linear(input_dims[m], dim) for m in sorted(input_dims)})


class CrossAttention(nn.Module):
    """Multi-head attention of queries ``x`` over keys/values ``context``.

    Args:
        dim: model width (a multiple of ``heads``).
        heads: number of attention heads.
        dropout: dropout on the attention weights (training only).

    Inputs:
        x: ``(B, Tq, dim)``; context: ``(B, Tk, dim)``; context_mask: bool ``(B, Tk)`` (``True`` at
        real keys) or ``None``.
    Returns:
        ``(B, Tq, dim)``; rows without any real key give zeros (before the output projection's bias).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = check_heads(dim, heads)
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None) -> Tensor:
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        q = self.q(x).view(batch, length, self.heads, head_dim).transpose(1, 2)
        k, v = self.kv(context).view(batch, context.shape[1], 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        y = attention(q, k, v, key_padding_mask=context_mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention block: ``x + attn(norm(x), norm(context))``, then ``x + mlp(norm(x))``.

    Args:
        dim: model width.
        heads: number of attention heads.
        mlp_ratio: hidden width of the MLP, as a multiple of ``dim``.
        dropout: dropout on the attention weights and after the attention and the MLP.

    Inputs:
        x: ``(B, Tq, dim)``; context: ``(B, Tk, dim)``; context_mask: bool ``(B, Tk)`` or ``None``.
    Returns:
        ``(B, Tq, dim)``; each query depends on itself and on real keys only.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = transformer_mlp(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None) -> Tensor:
        x = x + self.drop(self.attn(self.norm_q(x), self.norm_kv(context), context_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


def real_only(seq: Tensor, mask: Tensor) -> Tensor:
    """``seq`` with padded positions set to zero, so that their values cannot reach anything.

    Inputs:
        seq: ``(B, T, D)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, T, D)``.
    """
    return torch.where(mask.unsqueeze(-1), seq, torch.zeros((), dtype=seq.dtype, device=seq.device))


def mean_over_present(vectors: Tensor, present: Tensor) -> Tensor:
    """Average over the modalities present in each row.

    Inputs:
        vectors: ``(B, M, D)``; present: bool ``(B, M)``.
    Returns:
        ``(B, D)``; rows without any modality give zeros. Absent entries never reach the output
        (not even as NaN).
    """
    kept = real_only(vectors, present)
    count = present.sum(dim=1, keepdim=True).clamp_min(1).to(kept.dtype)
    return kept.sum(dim=1) / count


def check_modalities(name: str, expected: Sequence[str], encoded: Mapping[str, Encoded]) -> None:
    """Raise ``KeyError`` when a modality the fusion was built for is not in ``encoded``."""
    missing = [m for m in expected if m not in encoded]
    if missing:
        raise KeyError(f"{name} fusion expects modalities {list(expected)}; missing {missing}")


def attention_blocks(fusion: nn.Module) -> list[nn.Module]:
    """A fusion's transformer and cross-attention blocks, in registration order.

    What the attention fusions return from ``blocks()``: the units that activation checkpointing,
    ``torch.compile`` and FSDP sharding handle one at a time (:mod:`mmzoo.scaling`).
    """
    return [module for module in fusion.modules() if isinstance(module, (TransformerBlock, CrossAttentionBlock))]
