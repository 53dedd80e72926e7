"""Data: the datamodule contract, collation, and the built-in datamodules (a plugin like any other)."""

from __future__ import annotations

from mmzoo.contracts.datamodule import MultimodalDataModule
from mmzoo.data.collate import collate_rows, pad_sequences
from mmzoo.data.manifest_datamodule import ManifestDataModule
from mmzoo.data.tones_and_words import TonesAndWords
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = [
    "MultimodalDataModule",
    "ManifestDataModule",
    "TonesAndWords",
    "collate_rows",
    "pad_sequences",
]


def _manifest_example() -> dict[str, object]:
    """Options for the contract test: the shipped spoken/drawn digits, found from this file."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "recipes" / "data" / "digits" / "audio_image"
    return {
        "modalities": {"audio": {"type": "audio"}, "image": {"type": "image", "channels": 1}},
        "targets": {"digit": {"num_classes": 10}},
        "train": str(root / "val.jsonl"),
        "val": str(root / "val.jsonl"),
        "batch_size": 4,
    }


@hookimpl
def mmzoo_register_datamodules(registrar: Registrar) -> None:
    registrar.add("manifest", ManifestDataModule, example=_manifest_example)
    registrar.add(
        "tones_and_words", TonesAndWords, example={"train_size": 16, "val_size": 8, "test_size": 8, "batch_size": 4}
    )
