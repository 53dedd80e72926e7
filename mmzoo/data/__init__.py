"""Data: the datamodule contract, collation, and the built-in datamodules (a plugin like any other)."""

from __future__ import annotations

from mmzoo.data.base import MultimodalDataModule
from mmzoo.data.collate import collate_rows, pad_sequences
from mmzoo.data.tones_and_words import TonesAndWords
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["MultimodalDataModule", "TonesAndWords", "collate_rows", "pad_sequences"]


@hookimpl
def mmzoo_register_datamodules(registrar: Registrar) -> None:
    registrar.add(
        "tones_and_words", TonesAndWords, example={"train_size": 16, "val_size": 8, "test_size": 8, "batch_size": 4}
    )
