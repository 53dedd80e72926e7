"""Pooling over padded sequences that only looks at real positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["masked_mean", "masked_max", "present_modalities"]


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


def present_modalities(encoded: Mapping[str, Any], modalities: Sequence[str]) -> Tensor:
    """Which rows have each modality (any real position).

    Inputs:
        encoded: modality -> :class:`~mmzoo.contracts.Encoded` with ``mask (B, T_m)``.
    Returns:
        bool ``(B, M)`` with modalities in the given order.
    """
    return torch.stack([encoded[m].mask.any(dim=-1) for m in modalities], dim=1)
