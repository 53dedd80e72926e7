"""Preemption: SIGTERM and SIGUSR1 save a checkpoint at the current step and stop the run.

SLURM and Kubernetes preempt with SIGTERM (SLURM also sends SIGUSR1, or the signal of ``--signal``,
some time before a job's time limit). :class:`Preemption` catches both for the whole of ``fit``: the
handler only notes the signal, and after the training step in progress (or at the end of the epoch,
when the signal came during validation) every process saves ``last.ckpt`` and the run stops with
:class:`Preempted`, which ``mmzoo`` reports with exit code :data:`mmzoo.errors.EXIT_INTERRUPTED` and
``"status": "interrupted"`` in ``results.json``. A second signal during the save changes nothing: the
save is atomic and the handler only notes it again.

Lightning installs its own SIGTERM handler when training starts (it would stop the run with exit
code 0 and no checkpoint); this callback installs its handler after Lightning's, and Lightning puts
the original handlers back when training ends.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import lightning.pytorch as pl

from mmzoo.lifecycle.last_checkpoint import LastCheckpoint, at_step_boundary

__all__ = ["Preemption", "Preempted", "SIGNALS"]

#: The signals that preempt a run.
SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(Exception):
    """Training stopped after a preemption signal; ``last.ckpt`` holds the state at ``step``."""

    def __init__(self, signal_name: str, step: int, checkpoint: Any) -> None:
        super().__init__(f"{signal_name} received: saved {checkpoint} at step {step}")
        self.signal_name = signal_name
        self.step = step
        self.checkpoint = checkpoint


class Preemption(pl.Callback):
    """Catch SIGTERM/SIGUSR1 during ``fit``; save through ``last`` and raise :class:`Preempted`.

    Args:
        last: the run's :class:`LastCheckpoint`, which writes the checkpoint.
    """

    def __init__(self, last: LastCheckpoint) -> None:
        self.last = last
        self.received: signal.Signals | None = None
        self._trainer: pl.Trainer | None = None

    def _note(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signal.Signals(signum)
        trainer = self._trainer
        if first and trainer is not None and trainer.strategy.launcher is not None:
            # Processes Lightning started itself (DDP on one machine) do not see the user's signal.
            trainer.strategy.launcher.kill(signum)

    def _install(self, trainer: pl.Trainer) -> None:
        self._trainer = trainer
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                signal.signal(sig, self._note)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._install(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._install(trainer)

    def _stop_if_asked(self, trainer: pl.Trainer) -> None:
        asked = self.received is not None
        if trainer.world_size > 1:
            # Stop on the same step everywhere: a process that saw no signal yet learns it here.
            asked = trainer.strategy.reduce_boolean_decision(asked, all=False)
        if not asked:
            return
        self.last.save(trainer)
        name = self.received.name if self.received is not None else "a preemption signal (on another process)"
        raise Preempted(name, trainer.global_step, self.last.path)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if at_step_boundary(trainer, batch_idx):
            self._stop_if_asked(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._stop_if_asked(trainer)
