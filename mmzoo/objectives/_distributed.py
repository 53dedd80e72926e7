"""Gathering features across processes for contrastive losses (open_clip's semantics)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["world", "gather_features", "gather_with_grad"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, or ``(0, 1)`` outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(tensor: Tensor) -> list[Tensor]:
    """Every process's ``tensor`` (rank order); gradients flow back to the process that sent it.

    The backward pass sums, on each process, the gradients that every process computed for its
    tensor (``torch.distributed.nn.functional.all_gather``).
    """
    from torch.distributed.nn.functional import all_gather

    return list(all_gather(tensor))


def gather_features(
    features: Tensor, *, local_loss: bool = False, with_grad: bool = True, rank: int = 0, world_size: int = 1
) -> Tensor:
    """Concatenate ``features (B, D)`` from every process into ``(world_size * B, D)``.

    Follows ``open_clip.loss.gather_features``: with ``with_grad`` the gather is differentiable;
    without it, the gathered copies carry no gradient and, unless ``local_loss`` (where the loss
    reads the local tensor directly), the local tensor is put back in its slot so that its own
    rows still get gradients. Every process must give the same batch size.

    Args:
        features: this process's features.
        local_loss: the loss only scores this process's rows against everything.
        with_grad: differentiable gather.
        rank: this process's rank.
        world_size: number of processes; ``1`` returns ``features`` unchanged.
    """
    if world_size == 1:
        return features
    if with_grad:
        return torch.cat(gather_with_grad(features), dim=0)
    gathered = [torch.zeros_like(features) for _ in range(world_size)]
    dist.all_gather(gathered, features.contiguous())
    if not local_loss:
        gathered[rank] = features
    return torch.cat(gathered, dim=0)
