"""Experiment tracking: W&B runs that carry everything a comparison needs, and ``run.json``.

- :mod:`~mmzoo.tracking.settings`: the W&B run's mode, project, name, group, job type, tags, from
  the recipe, the ``WANDB_*`` variables and mmzoo's defaults;
- :mod:`~mmzoo.tracking.logger`: Lightning's ``WandbLogger`` with that config logged once, and an end;
- :mod:`~mmzoo.tracking.config`: the config (the recipe with every default, overrides, versions,
  device, parameter counts, git commit, lineage), also written to ``run.json``;
- :mod:`~mmzoo.tracking.metrics`: learning rates, gradient norm, step time, throughput, peak memory;
- :mod:`~mmzoo.tracking.artifacts`: checkpoints, predictions and QC reports as artifacts, and lineage;
- :mod:`~mmzoo.tracking.versions`: software versions, device, git commit.

:func:`trainer_parts` gives :func:`mmzoo.build.build_trainer` its W&B logger and callbacks;
:mod:`mmzoo.run` adds a :class:`RunRecord`, calls :func:`log_outputs` after ``predict`` and
:func:`finish` at the end of every command. See docs/wandb.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzoo.recipe.schema import Recipe
from mmzoo.tracking.artifacts import LastCheckpointArtifact, lineage_of, log_outputs
from mmzoo.tracking.config import RunRecord
from mmzoo.tracking.logger import RunLogger, wandb_logger
from mmzoo.tracking.metrics import TrainingMetrics
from mmzoo.tracking.run_file import RUN_FILE, read_run_file
from mmzoo.tracking.settings import WandbSettings, resolve_settings

__all__ = [
    "RUN_FILE",
    "RunLogger",
    "RunRecord",
    "WandbSettings",
    "finish",
    "lineage_of",
    "log_outputs",
    "read_run_file",
    "resolve_settings",
    "trainer_parts",
]


def trainer_parts(
    recipe: Recipe, run_dir: Path, command: str, *, other_loggers: bool, checkpointing: bool
) -> tuple[RunLogger | None, list[Any]]:
    """The W&B logger (``None`` when W&B is off) and the tracking callbacks of a Trainer.

    Args:
        recipe: the validated recipe.
        run_dir: the run directory.
        command: the command the Trainer runs (the default W&B job type).
        other_loggers: whether the Trainer has loggers besides W&B (the training metrics go to them too).
        checkpointing: whether this Trainer writes ``last.ckpt`` (training with checkpoints on).
    """
    settings = resolve_settings(recipe, run_dir, command)
    logger = RunLogger(settings, run_dir) if settings.enabled else None
    callbacks: list[Any] = []
    if command == "fit" and (logger is not None or other_loggers):
        callbacks.append(TrainingMetrics())
    if logger is not None and checkpointing and settings.log_model:
        callbacks.append(LastCheckpointArtifact(run_dir, settings.log_model))
    return logger, callbacks


def finish(trainer: Any) -> None:
    """End the trainer's W&B run, failed unless the trainer's last call finished."""
    from lightning.pytorch.trainer.states import TrainerStatus

    logger = wandb_logger(trainer)
    if logger is not None:
        logger.finish(failed=trainer.state.status != TrainerStatus.FINISHED)
