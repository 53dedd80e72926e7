"""Pooling over padded sequences that only looks at real positions."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["masked_mean", "masked_max"]


def masked_mean(seq: Tensor, mask: Tensor) -> Tensor:
    """Mean over real positions.

    Inputs:
        seq: ``(B, T, D)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, D)``; rows without any real position give zeros.
    """
    weights = mask.to(seq.dtype).unsqueeze(-1)
    total = (seq * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp_min(1.0)
    return total / count


def masked_max(seq: Tensor, mask: Tensor) -> Tensor:
    """Maximum over real positions.

    Inputs:
        seq: ``(B, T, D)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, D)``; rows without any real position give zeros.
    """
    filled = seq.masked_fill(~mask.unsqueeze(-1), torch.finfo(seq.dtype).min)
    pooled = filled.max(dim=1).values
    has_any = mask.any(dim=1, keepdim=True)
    return torch.where(has_any, pooled, torch.zeros_like(pooled))
