"""Optimizers and learning-rate schedulers named in recipes.

Optimizers come from ``torch.optim`` by short name (``adamw``, ``adam``, ``sgd``...) or by dotted
path (``torch.optim.AdamW``, or any importable optimizer class). Schedulers are:

- ``warmup_cosine``: linear warm-up then cosine decay over the whole run, stepped every
  optimizer step; built from torch's ``LinearLR``, ``CosineAnnealingLR`` and ``SequentialLR``;
- ``constant``: no schedule;
- a dotted path to any scheduler class (``torch.optim.lr_scheduler.StepLR``), with the reserved
  options ``interval`` (``step`` or ``epoch``, default ``epoch``) and ``monitor``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

import torch

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "SCHEDULER_RESERVED",
    "resolve_optimizer",
    "resolve_scheduler",
    "warmup_cosine",
    "constant",
]

OPTIMIZERS: dict[str, str] = {
    "adamw": "torch.optim.AdamW",
    "adam": "torch.optim.Adam",
    "sgd": "torch.optim.SGD",
    "rmsprop": "torch.optim.RMSprop",
    "adagrad": "torch.optim.Adagrad",
}

#: Scheduler options that configure Lightning's stepping rather than the scheduler itself.
SCHEDULER_RESERVED: tuple[str, ...] = ("interval", "monitor")


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    warmup_start_ratio: float = 0.01,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step.

    Args:
        warmup_steps: optimizer steps of linear warm-up.
        min_lr_ratio: final learning rate as a fraction of the initial one.
        warmup_start_ratio: learning rate at step 0 as a fraction of the initial one.
    """
    lr_scheduler = torch.optim.lr_scheduler
    base_lr = min(group["lr"] for group in optimizer.param_groups)
    decay_steps = max(1, total_steps - warmup_steps)
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay_steps, eta_min=base_lr * min_lr_ratio)
    if warmup_steps <= 0:
        return cosine
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=warmup_start_ratio, total_iters=warmup_steps)
    return lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


def constant(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Keep the learning rate fixed."""
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


#: Built-in schedulers: they take ``(optimizer, total_steps, **options)`` and step every optimizer step.
SCHEDULERS: dict[str, Callable[..., Any]] = {"warmup_cosine": warmup_cosine, "constant": constant}


def _import_dotted(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImportError(f"'{path}' is not a dotted path")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module '{module_name}' has no attribute '{attr}'") from None


def resolve_optimizer(name: str) -> type[torch.optim.Optimizer]:
    """The optimizer class for a short name or dotted path.

    Raises:
        ImportError: the path cannot be imported. ``TypeError``: it is not an optimizer class.
    """
    cls = _import_dotted(OPTIMIZERS.get(name.lower(), name))
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise TypeError(f"'{name}' is not a torch.optim.Optimizer class")
    return cls


def resolve_scheduler(name: str) -> tuple[Callable[..., Any], Literal["step", "epoch"]]:
    """The scheduler factory for a name, and its default stepping interval.

    Built-in schedulers step every optimizer step; scheduler classes step every epoch unless the
    recipe says ``interval: step``.
    """
    if name in SCHEDULERS:
        return SCHEDULERS[name], "step"
    cls = _import_dotted(name)
    if not (
        isinstance(cls, type)
        and issubclass(cls, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau))
    ):
        raise TypeError(f"'{name}' is not a torch learning-rate scheduler class")
    return cls, "epoch"
