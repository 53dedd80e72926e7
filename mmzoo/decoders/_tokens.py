"""Parts every built-in decoder shares: token embedding ids and the memory projection."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mmzoo.contracts.decoder import bos_id

__all__ = ["memory_projection", "sinusoid", "token_embedding"]


def token_embedding(vocab_size: int, dim: int) -> nn.Embedding:
    """Embeddings of the decoder's inputs: ``EOS`` (0, unused as an input but kept so ids need no
    shifting), the ``vocab_size`` tokens, and ``BOS``: ``vocab_size + 2`` rows of width ``dim``."""
    return nn.Embedding(bos_id(vocab_size) + 1, dim)


def memory_projection(memory_dim: int, dim: int) -> nn.Module:
    """``(B, T, memory_dim) -> (B, T, dim)``: a linear map, or the identity when the widths agree."""
    return nn.Identity() if memory_dim == dim else nn.Linear(memory_dim, dim)


def sinusoid(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal position encodings (Vaswani et al., 2017) of integer ``positions`` ``(...)``:
    ``(..., dim)`` float32; sines in the even columns, cosines in the odd ones."""
    half = (dim + 1) // 2
    frequencies = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32) * (-math.log(10000.0) / max(half, 1))
    )
    angles = positions.float().unsqueeze(-1) * frequencies
    encoding = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)
    return encoding[..., :dim]
