"""``trainer.strategy`` in a recipe: a Lightning strategy name, or a mapping with options.

- ``fsdp`` (a string or ``{name: fsdp, ...}``) is mmzoo's :class:`~mmzoo.scaling.fsdp.FSDPStrategy`
  (FSDP2 on Lightning's ``ModelParallelStrategy``), which also runs on CPU processes;
- ``{name: ddp, ...}`` is Lightning's ``DDPStrategy`` with those options (for example
  ``find_unused_parameters: true``);
- any other string (``auto``, ``ddp``, ``ddp_spawn``, ``deepspeed``...) goes to Lightning as it is.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.strategies import DDPStrategy

from mmzoo.scaling.fsdp import FSDPStrategy

__all__ = ["STRATEGIES", "STRATEGY_OPTIONS", "resolve_strategy"]

#: Strategies a recipe can configure with a mapping.
STRATEGIES: dict[str, type] = {"ddp": DDPStrategy, "fsdp": FSDPStrategy}

#: The options each accepts in a recipe, and their types. DDP's are those of
#: ``torch.nn.parallel.DistributedDataParallel`` that make sense in YAML, plus the process group.
STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "ddp": {
        "find_unused_parameters": bool,
        "static_graph": bool,
        "gradient_as_bucket_view": bool,
        "broadcast_buffers": bool,
        "bucket_cap_mb": float | None,
        "process_group_backend": str | None,
    },
    "fsdp": {k: v for k, v in typing.get_type_hints(FSDPStrategy.__init__).items() if k != "return"},
}


def resolve_strategy(value: Any) -> Any:
    """What to pass as ``lightning.Trainer(strategy=...)`` for a recipe's ``trainer.strategy``."""
    if isinstance(value, Mapping):
        options = {k: v for k, v in value.items() if k != "name"}
        return STRATEGIES[value["name"]](**options)
    if value == "fsdp":
        return FSDPStrategy()
    return value
