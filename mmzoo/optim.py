"""Optimizers and learning-rate schedulers named in recipes.

Optimizers come from ``torch.optim`` by short name (``adamw``, ``adam``, ``sgd``...) or by dotted
path (``torch.optim.AdamW``, or an optimizer class of an installed mmzoo plugin's package: a recipe
never imports any other module). Schedulers are:

- ``warmup_cosine``: linear warm-up then cosine decay over the whole run, stepped every
  optimizer step (a closed-form ``LambdaLR``);
- ``constant``: no schedule;
- a dotted path to any scheduler class (``torch.optim.lr_scheduler.StepLR``), with the reserved
  options ``interval`` (``step`` or ``epoch``, default ``epoch``) and ``monitor``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Collection
from typing import Annotated, Any, Literal

import torch

from mmzoo.constraints import NonNegativeInt, Probability, Range

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
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


#: The run length a built-in scheduler receives: a number, or a function that returns it when the
#: scheduler first needs it (``MultimodalModule.total_training_steps``; asking Lightning for it while
#: optimizers are configured would set the training data up before a resumed run's state is restored).
TotalSteps = int | Callable[[], int]


def _resolve_total(total_steps: TotalSteps) -> Callable[[], int]:
    if callable(total_steps):
        return total_steps
    return lambda: total_steps


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: TotalSteps,
    warmup_steps: NonNegativeInt = 0,
    min_lr_ratio: Probability = 0.0,
    warmup_start_ratio: Annotated[float, Range(gt=0, le=1)] = 0.01,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step.

    The factor at step ``s`` is ``warmup_start_ratio + (1 - warmup_start_ratio) * s / warmup_steps``
    during warm-up, then ``min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * t)) / 2`` with ``t`` the
    fraction of the decay steps done: a closed form of the step, so a resumed run continues exactly.

    Args:
        total_steps: optimizer steps in the run, or a function returning them (read at the first step
            after warm-up).
        warmup_steps: optimizer steps of linear warm-up.
        min_lr_ratio: final learning rate as a fraction of the initial one.
        warmup_start_ratio: learning rate at step 0 as a fraction of the initial one.
    """
    total = _resolve_total(total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start_ratio + (1.0 - warmup_start_ratio) * step / warmup_steps
        if step == warmup_steps:
            return 1.0
        decay_steps = max(1, total() - warmup_steps)
        done = min(1.0, (step - warmup_steps) / decay_steps)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * done))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def constant(optimizer: torch.optim.Optimizer, total_steps: TotalSteps) -> torch.optim.lr_scheduler.LRScheduler:
    """Keep the learning rate fixed."""
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


#: Built-in schedulers: they take ``(optimizer, total_steps, **options)`` and step every optimizer step.
SCHEDULERS: dict[str, Callable[..., Any]] = {"warmup_cosine": warmup_cosine, "constant": constant}


#: Where optimizer and scheduler classes may be imported from, besides the packages of installed plugins.
TRUSTED_PACKAGES: tuple[str, ...] = ("torch",)


def _import_dotted(path: str, packages: Collection[str] | None) -> Any:
    """The object at a dotted path, importing its module only from ``packages`` (any, for ``None``).

    A recipe is data: naming a class in it must not import (and so run) an arbitrary module. Validation
    passes the trusted packages: torch and the top-level packages of installed mmzoo plugins.
    """
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImportError(f"'{path}' is not a dotted path")
    if packages is not None and module_name.split(".")[0] not in packages:
        raise ImportError(
            f"mmzoo imports optimizer and scheduler classes only from torch and from the packages of installed"
            f" mmzoo plugins ({', '.join(sorted(packages))}), not from '{module_name.split('.')[0]}';"
            " install the class's package as an mmzoo plugin, or use a torch.optim class"
        )
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module '{module_name}' has no attribute '{attr}'") from None


def resolve_optimizer(name: str, packages: Collection[str] | None = None) -> type[torch.optim.Optimizer]:
    """The optimizer class for a short name or dotted path.

    Args:
        packages: the top-level packages a dotted path may import from (see :func:`_import_dotted`).

    Raises:
        ImportError: the path cannot be imported (or is outside ``packages``). ``TypeError``: it is not
        an optimizer class.
    """
    cls = _import_dotted(OPTIMIZERS.get(name.lower(), name), packages)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise TypeError(f"'{name}' is not a torch.optim.Optimizer class")
    return cls


def resolve_scheduler(
    name: str, packages: Collection[str] | None = None
) -> tuple[Callable[..., Any], Literal["step", "epoch"]]:
    """The scheduler factory for a name, and its default stepping interval.

    Built-in schedulers step every optimizer step; scheduler classes step every epoch unless the
    recipe says ``interval: step``. ``packages`` as for :func:`resolve_optimizer`.
    """
    if name in SCHEDULERS:
        return SCHEDULERS[name], "step"
    cls = _import_dotted(name, packages)
    if not (
        isinstance(cls, type)
        and issubclass(cls, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau))
    ):
        raise TypeError(f"'{name}' is not a torch learning-rate scheduler class")
    return cls, "epoch"
