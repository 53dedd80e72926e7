"""``last.ckpt``: the newest state of a run, at every epoch end and, on request, inside epochs.

Lightning's ``ModelCheckpoint`` writes ``last.ckpt`` only when it saves a top-k checkpoint, so with a
monitored metric it can lag epochs behind. :class:`LastCheckpoint` owns ``last.ckpt`` instead (the
``ModelCheckpoint`` mmzoo adds keeps only the best ones): it saves at the end of every training epoch,
after that epoch's validation, and, with ``checkpoint.every_n_steps`` or ``every_n_minutes``, after
the optimizer step that crosses the interval. A checkpoint saved inside an epoch carries the data
loader's position, so ``--resume`` continues with the next batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from mmzoo.lifecycle.names import LAST_NAME

__all__ = ["LastCheckpoint", "at_step_boundary"]


def at_step_boundary(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether the batch that just ended completed an optimizer step (gradient accumulation holds
    partial gradients in between, which no checkpoint carries)."""
    return trainer.global_step > 0 and (batch_idx + 1) % trainer.accumulate_grad_batches == 0


class LastCheckpoint(pl.Callback):
    """Save ``dirpath/last.ckpt`` at every epoch end, and every N steps or minutes.

    Args:
        dirpath: the run's ``checkpoints/`` folder.
        every_n_steps: also save after every N-th optimizer step (``None``: epoch ends only).
        every_n_minutes: also save once this many minutes have passed since the last save.
    """

    def __init__(self, dirpath: Path, every_n_steps: int | None = None, every_n_minutes: float | None = None) -> None:
        self.path = Path(dirpath) / LAST_NAME
        self.every_n_steps = every_n_steps
        self.every_n_seconds = None if every_n_minutes is None else every_n_minutes * 60.0
        self._saved_at_step = -1
        self._saved_at_time = time.monotonic()

    @property
    def state_key(self) -> str:
        return "mmzoo.LastCheckpoint"

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` now (every process takes part), unless this step is already saved."""
        if trainer.sanity_checking or self._saved_at_step == trainer.global_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the whole training state, not weights only
        self._saved_at_step = trainer.global_step
        self._saved_at_time = time.monotonic()

    def _due(self, trainer: pl.Trainer) -> bool:
        by_steps = self.every_n_steps is not None and trainer.global_step % self.every_n_steps == 0
        by_time = self.every_n_seconds is not None and time.monotonic() - self._saved_at_time >= self.every_n_seconds
        if self.every_n_seconds is not None and trainer.world_size > 1:
            # Clocks differ between processes: they must agree, or only some would save.
            by_time = trainer.strategy.reduce_boolean_decision(by_time, all=False)
        return by_steps or by_time

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if at_step_boundary(trainer, batch_idx) and trainer.global_step != self._saved_at_step and self._due(trainer):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.save(trainer)
