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
