"""The datamodule contract: a ``LightningDataModule`` that also describes its modalities, plus the
optional hooks ``mmzoo fit``/``predict`` call on it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import lightning.pytorch as pl
from torch import nn

from mmzoo.contracts.batch import ModalitySpec

__all__ = ["MultimodalDataModule", "PredictionWriter"]


@runtime_checkable
class PredictionWriter(Protocol):
    """What writes the rows of ``mmzoo predict``: a Lightning callback (usually a
    ``BasePredictionWriter``) that can say which rows an interrupted earlier run already wrote.

    Attributes:
        output: the file or folder it writes (``RunResult.predictions``).
    """

    output: Path

    def completed_ids(self) -> set[str]:
        """Ids of the rows already written (empty unless resuming)."""
        ...


class MultimodalDataModule(pl.LightningDataModule):
    """Base class of datamodules.

    Subclasses yield :class:`~mmzoo.contracts.batch.Batch` objects from their dataloaders and
    describe, right after construction and before ``setup``, what the model will receive:

    - :attr:`modality_specs`: modality name -> :class:`~mmzoo.contracts.batch.ModalitySpec`;
    - :attr:`target_names`: the names in ``Batch.targets``.

    ``predict_dataloader`` serves the rows to write predictions for. The hooks below have
    defaults that do nothing; override those the datamodule needs.
    """

    modality_specs: dict[str, ModalitySpec]
    target_names: tuple[str, ...]

    def starting_epoch(self) -> int:
        """The epoch the next pass over a dataloader belongs to: ``0``, or the epoch a resumed run
        continues in.

        Lightning creates the training loader's first iterator before it tells samplers their epoch
        (``set_epoch``), so a sampler seeded by epoch must start from this value; see
        :mod:`mmzoo.data.loader`.
        """
        trainer = self.trainer
        return 0 if trainer is None else int(trainer.fit_loop.epoch_progress.current.processed)

    def attach_run_dir(self, run_dir: Path) -> None:
        """Called once the run directory exists (after ``setup``, before the Trainer starts), for
        files the datamodule keeps with the run (a report of bad rows, fitted tokenizers).
        Default: nothing."""

    def prediction_writer(
        self, run_dir: Path, heads: Mapping[str, nn.Module], *, resume: bool
    ) -> PredictionWriter | None:
        """The writer of ``mmzoo predict`` for this data (a report of its own, say), or ``None``
        for mmzoo's ``predictions.jsonl`` (the default).

        Args:
            run_dir: the predict run's directory.
            heads: the model's heads by name.
            resume: continuing an interrupted predict run in ``run_dir``.
        """
        return None

    def exclude_predict_ids(self, ids: set[str]) -> bool:
        """Leave the rows with these ids out of ``predict_dataloader`` (a resumed predict run wrote
        them already). Returns whether it did; the default cannot, and the writer then writes each
        row once all the same."""
        return False
