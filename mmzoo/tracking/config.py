"""The run's config, assembled once: the recipe with every default, and the facts of the run.

:class:`RunRecord` assembles it when the Trainer sets up (the first time only: ``fit`` validates
with the same Trainer afterwards), sends it to the W&B run in one piece, and writes the facts into
``run.json`` (:mod:`mmzoo.tracking.run_file`), with or without W&B. The config is::

    <the recipe's sections>   # with every default (mmzoo.recipe.defaults); ${env:...} stay references
    command: fit
    overrides: [optimizer.lr=0.001, ...]
    argv: [fit, recipe.yaml, optimizer.lr=0.001]          # the command line, when known
    versions: {mmzoo, plugins: {distribution: version}, python, torch, lightning, cuda, cudnn, wandb}
    device: {type, name, processes, nodes, precision}
    parameters: {total, trainable}
    git: {commit, dirty}                                  # null outside a git work tree
    lineage: {checkpoint, run_dir, wandb_run_id, wandb_project, artifact}   # null without a checkpoint

``run.json`` holds the same keys except the recipe (``recipe.yaml`` is next to it), plus ``wandb``
(the W&B run's mode, id, project, name, group, job type, tags).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.recipe.schema import Recipe
from mmzoo.registry import Registry
from mmzoo.tracking.artifacts import Lineage, lineage_of, use_checkpoint_artifact
from mmzoo.tracking.logger import wandb_logger
from mmzoo.tracking.run_file import update_run_file
from mmzoo.tracking.versions import device_facts, git_state, software_versions

__all__ = ["RunRecord", "parameter_counts"]


def parameter_counts(module: Any) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}``: the module's parameters, counted once each."""
    parameters = list(module.parameters())
    return {
        "total": sum(p.numel() for p in parameters),
        "trainable": sum(p.numel() for p in parameters if p.requires_grad),
    }


class RunRecord(pl.Callback):
    """Assemble the run's config when the Trainer first sets up; log it to W&B and write ``run.json``.

    A run that evaluates or resumes from a checkpoint also records its lineage (the run that wrote
    the checkpoint) and, when that run uploaded the checkpoint and this run is online, marks the
    artifact as used by this run.

    Args:
        recipe: the validated recipe.
        registry: the components (for their defaults and distributions).
        command: ``fit``, ``validate``, ``test`` or ``predict``.
        run_dir: the run directory (``run.json`` goes there).
        overrides: the recipe overrides of the command line.
        argv: the whole command line, when known.
        checkpoint: the checkpoint the run evaluates or resumes from.
    """

    def __init__(
        self,
        recipe: Recipe,
        registry: Registry,
        command: str,
        run_dir: Path,
        *,
        overrides: Sequence[str] = (),
        argv: Sequence[str] | None = None,
        checkpoint: Path | None = None,
    ) -> None:
        self.recipe = recipe
        self.registry = registry
        self.command = command
        self.run_dir = Path(run_dir)
        self.overrides = list(overrides)
        self.argv = None if argv is None else list(argv)
        self.checkpoint = checkpoint
        self.recorded = False

    def facts(self, trainer: pl.Trainer, module: Any, lineage: Lineage | None) -> dict[str, Any]:
        """Everything the config holds besides the recipe."""
        return {
            "command": self.command,
            "overrides": self.overrides,
            "argv": self.argv,
            "versions": software_versions(self.registry),
            "device": device_facts(trainer),
            "parameters": parameter_counts(module),
            "git": git_state(self.recipe.source.resolve().parent),
            "lineage": None if lineage is None else lineage.to_dict(),
        }

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.recorded or not trainer.is_global_zero:
            return
        self.recorded = True
        lineage = lineage_of(self.checkpoint) if self.checkpoint is not None else None
        facts = self.facts(trainer, pl_module, lineage)
        logger = wandb_logger(trainer)
        if logger is None:  # W&B is disabled
            update_run_file(self.run_dir, {**facts, "wandb": {"mode": "disabled"}})
            return
        update_run_file(
            self.run_dir, {**facts, "wandb": {**logger.settings.record(self.recipe), "id": logger.experiment.id}}
        )
        logger.log_config({**with_component_defaults(self.recipe, self.registry), **facts})
        if lineage is not None:
            use_checkpoint_artifact(logger, lineage)
