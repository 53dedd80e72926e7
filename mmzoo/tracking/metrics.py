"""Training health, logged through Lightning's loggers (W&B and ``metrics.csv`` alike).

On the steps the loggers write (every ``trainer.log_every_n_steps`` optimizer steps, the steps
``train/loss_step`` is logged on), :class:`TrainingMetrics` logs:

- ``train/lr``: the learning rate of the optimizer step (``train/lr/<group>`` for each param group
  when there are several; ``<group>`` is the group's ``name`` or its index);
- ``train/grad_norm``: the L2 norm of all gradients before clipping, as the optimizer is about to
  use them (unscaled under mixed precision);
- ``train/step_time``: wall-clock seconds per optimizer step and ``train/samples_per_sec``: rows
  per second over all processes, both averaged since the previous logged step (data loading
  included; validation and epoch boundaries start a new window).

At the end of every training epoch it logs the peak memory of rank 0 during that epoch:
``memory/peak_allocated_mib`` on CUDA (``torch.cuda.max_memory_allocated``), else
``memory/peak_rss_mib``, the process's resident set size peak since it started (``getrusage``).

Nothing here waits for the device on other steps: the gradient norm stays a tensor on the device
until a logged step reads it, and only logged steps synchronize to time the window.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning.pytorch as pl
import torch

from mmzoo.contracts import Batch
from mmzoo.module import _loggers_write_this_step

__all__ = ["TrainingMetrics", "gradient_norm", "peak_memory"]

_MIB = 1024.0 * 1024.0


def gradient_norm(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """The L2 norm of the gradients the optimizer holds, as a tensor (no host-device sync).

    Under FSDP the gradients are sharded ``DTensor``\\ s and so is this norm: read it with
    :func:`_value`, which completes it across processes.
    """
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return None
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0)


def _value(norm: torch.Tensor) -> float:
    """A norm as a number; a sharded (``DTensor``) norm is first reduced over every process."""
    from torch.distributed.tensor import DTensor

    if isinstance(norm, DTensor):
        norm = norm.full_tensor()  # a collective: every rank gets here on the same steps
    return float(norm.item())


def peak_memory(device: torch.device) -> dict[str, float]:
    """The peak memory since the last reset: CUDA allocations, or the process's peak RSS off CUDA."""
    if device.type == "cuda":
        return {"memory/peak_allocated_mib": torch.cuda.max_memory_allocated(device) / _MIB}
    try:
        import resource
    except ImportError:  # Windows
        return {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return {"memory/peak_rss_mib": peak / (_MIB if sys.platform == "darwin" else 1024.0)}


class TrainingMetrics(pl.Callback):
    """Log learning rates, gradient norm, step time and throughput on logged steps, and peak memory per epoch."""

    def __init__(self) -> None:
        self._learning_rates: dict[str, float] = {}
        self._grad_norm: torch.Tensor | None = None
        self._window_start: float | None = None
        self._window_step = 0
        self._window_samples = 0

    def _reset_window(self) -> None:
        self._window_start = None
        self._window_samples = 0

    def _log(self, trainer: pl.Trainer, values: dict[str, float]) -> None:
        if trainer.is_global_zero and values:
            # The step the module logs train/loss_step at: the optimizer step just taken.
            step = max(trainer.global_step - 1, 0)
            for logger in trainer.loggers:
                logger.log_metrics({**values, "epoch": trainer.current_epoch}, step=step)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset_window()
        device = trainer.strategy.root_device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset_window()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._window_start is None:
            self._window_start = time.perf_counter()
            self._window_step = trainer.global_step

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        groups = optimizer.param_groups
        self._learning_rates = {
            "train/lr" if len(groups) == 1 else f"train/lr/{group.get('name', index)}": float(group["lr"])
            for index, group in enumerate(groups)
        }
        self._grad_norm = gradient_norm(optimizer)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Batch, batch_idx: int
    ) -> None:
        self._window_samples += len(batch.ids)
        if not _loggers_write_this_step(trainer):
            return
        values = dict(self._learning_rates)
        if self._grad_norm is not None:
            values["train/grad_norm"] = _value(self._grad_norm)  # waits for the step's kernels
            self._grad_norm = None
        device = trainer.strategy.root_device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        steps = trainer.global_step - self._window_step
        if self._window_start is not None and steps > 0 and now > self._window_start:
            elapsed = now - self._window_start
            values["train/step_time"] = elapsed / steps
            values["train/samples_per_sec"] = self._window_samples * trainer.world_size / elapsed
        self._window_start, self._window_step, self._window_samples = now, trainer.global_step, 0
        self._log(trainer, values)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, peak_memory(trainer.strategy.root_device))
