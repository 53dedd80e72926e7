"""Mask helpers shared by the sequence encoders: compaction, strided masks, masked normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "compact_order",
    "compact",
    "restore",
    "lengths_to_mask",
    "strided_mask",
    "first_real",
    "masked_group_norm",
]


def compact_order(mask: Tensor) -> Tensor:
    """For each row, the positions with real ones first (in their original order), then padding.

    Inputs:
        mask: bool ``(B, T)``.
    Returns:
        long ``(B, T)``: ``order[b, j]`` is the position that goes to slot ``j``.
    """
    return torch.argsort((~mask).to(torch.int8), dim=1, stable=True)


def compact(values: Tensor, order: Tensor) -> Tensor:
    """Reorder the positions of ``values`` (``(B, T, ...)``) by :func:`compact_order`'s result."""
    index = order.reshape(*order.shape, *([1] * (values.dim() - 2))).expand_as(values)
    return values.gather(1, index)


def restore(values: Tensor, order: Tensor) -> Tensor:
    """Undo :func:`compact`: put slot ``j`` of each row back at position ``order[b, j]``.

    Inputs:
        values: ``(B, T, D)``; order: long ``(B, T)``.
    Returns:
        ``(B, T, D)``.
    """
    index = order.unsqueeze(-1).expand_as(values)
    return torch.zeros_like(values).scatter(1, index, values)


def lengths_to_mask(lengths: Tensor, length: int) -> Tensor:
    """Bool ``(B, length)``, ``True`` at the first ``lengths[b]`` positions of row ``b``."""
    return torch.arange(length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def strided_mask(mask: Tensor, stride: int) -> Tensor:
    """The mask after a "same"-padded convolution with an odd kernel and this stride.

    Rule: an output step is real when the input frame at its centre is real. For right padding
    this gives ``ceil(length / stride)`` steps, the length the convolution itself produces for an
    unpadded row, so a row encodes the same alone or in a padded batch. Every real input frame
    still feeds at least one real output step when ``kernel_size >= stride``.

    Inputs:
        mask: bool ``(B, T)``.
    Returns:
        bool ``(B, ceil(T / stride))``.
    """
    return mask[:, ::stride]


def first_real(seq: Tensor, mask: Tensor) -> Tensor:
    """The vector at the first real position of each row (zeros for rows without one).

    Inputs:
        seq: ``(B, T, D)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, D)``.
    """
    first = mask.to(torch.int8).argmax(dim=1)  # (B,)
    picked = seq.gather(1, first[:, None, None].expand(-1, 1, seq.shape[-1])).squeeze(1)
    return picked * mask.any(dim=1, keepdim=True).to(picked.dtype)


def masked_group_norm(x: Tensor, mask: Tensor, norm: nn.GroupNorm) -> Tensor:
    """``norm`` (an ``nn.GroupNorm``) with statistics over real time steps only.

    Equal to ``norm(x)`` for a row without padding; padded steps never change real ones.

    Inputs:
        x: ``(B, C, T)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, C, T)``.
    """
    batch, channels, length = x.shape
    groups = norm.num_groups
    dtype = x.dtype
    grouped = x.float().reshape(batch, groups, channels // groups, length)
    weight = mask.to(torch.float32)[:, None, None, :]  # (B, 1, 1, T)
    count = (weight.sum(dim=(2, 3), keepdim=True) * (channels // groups)).clamp_min(1.0)
    mean = (grouped * weight).sum(dim=(2, 3), keepdim=True) / count
    var = ((grouped - mean).square() * weight).sum(dim=(2, 3), keepdim=True) / count
    out = ((grouped - mean) * torch.rsqrt(var + norm.eps)).reshape(batch, channels, length)
    if norm.affine:
        out = out * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]
    return out.to(dtype)
