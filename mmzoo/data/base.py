"""The datamodule contract: a ``LightningDataModule`` that also describes its modalities."""

from __future__ import annotations

import lightning.pytorch as pl

from mmzoo.contracts import ModalitySpec

__all__ = ["MultimodalDataModule"]


class MultimodalDataModule(pl.LightningDataModule):
    """Base class of datamodules.

    Subclasses yield :class:`~mmzoo.contracts.Batch` objects from their dataloaders and describe,
    right after construction and before ``setup``, what the model will receive:

    - :attr:`modality_specs`: modality name -> :class:`~mmzoo.contracts.ModalitySpec`;
    - :attr:`target_names`: the names in ``Batch.targets``.

    ``predict_dataloader`` serves the rows to write predictions for.
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
