"""Activation checkpointing, one block at a time.

A checkpointed block keeps only its inputs during the forward pass and runs again in the backward
pass to rebuild what its gradient needs: activation memory falls from "every block's activations"
to "one block's", for about one extra forward pass of compute. The block's ``forward`` is replaced
on the instance, so parameter names (and checkpoints) are the same with or without it, and FSDP's
hooks on the block's ``__call__`` stay outside the recomputed part.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch.utils.checkpoint
from torch import nn

__all__ = ["checkpoint_blocks", "blocks_of", "enable_activation_checkpointing"]

#: Marks a forward already wrapped, so that applying checkpointing twice is harmless.
_WRAPPED = "_mmzoo_checkpointed"


def blocks_of(component: nn.Module) -> list[nn.Module]:
    """A component's repeated blocks, input to output, or ``[]``.

    They are what its ``blocks()`` method returns, or the modules of a ``blocks`` attribute that
    is an ``nn.ModuleList`` or ``nn.Sequential`` (as in timm and in mmzoo's single-stream fusions).
    """
    blocks = getattr(component, "blocks", None)
    if isinstance(blocks, (nn.ModuleList, nn.Sequential)):
        return list(blocks)
    return list(blocks()) if callable(blocks) else []


def _checkpointed(forward: Callable[..., Any], module: nn.Module) -> Callable[..., Any]:
    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        if module.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    setattr(run, _WRAPPED, True)
    return run


def checkpoint_blocks(blocks: Iterable[nn.Module]) -> int:
    """Recompute each block's activations in the backward pass (training only).

    Returns:
        how many blocks were newly wrapped.
    """
    wrapped = 0
    for block in blocks:
        if getattr(block.forward, _WRAPPED, False):
            continue
        block.forward = _checkpointed(block.forward, block)  # type: ignore[method-assign]
        wrapped += 1
    return wrapped


def enable_activation_checkpointing(component: nn.Module) -> bool:
    """Checkpoint a component block by block: through its own ``enable_gradient_checkpointing()``
    (Hugging Face and timm models have their own), else through its ``blocks()``.

    Returns:
        ``False`` when the component has neither (nothing was changed).
    """
    enable = getattr(component, "enable_gradient_checkpointing", None)
    if callable(enable):
        enable()
        return True
    blocks = blocks_of(component)
    checkpoint_blocks(blocks)
    return bool(blocks)
