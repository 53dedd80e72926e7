"""Pad a list of rows into a :class:`~mmzoo.contracts.Batch` with boolean masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts import Batch, ModalityInput

__all__ = ["Row", "pad_sequences", "collate_rows"]

#: One example: ``{"id": str, "inputs": {modality: Tensor (T, ...)}, "targets": {name: number or Tensor}}``.
Row = Mapping[str, Any]


def pad_sequences(items: Sequence[Tensor], pad_value: float | int = 0) -> tuple[Tensor, Tensor]:
    """Stack variable-length tensors along a new batch dimension.

    Inputs:
        items: ``B`` tensors of shape ``(T_i, ...)`` with the same trailing shape.
    Returns:
        ``values (B, max T_i, ...)`` padded with ``pad_value`` and ``mask (B, max T_i)``.
    """
    lengths = torch.tensor([item.shape[0] for item in items])
    longest = int(lengths.max()) if len(items) else 0
    values = items[0].new_full((len(items), longest, *items[0].shape[1:]), pad_value)
    for index, item in enumerate(items):
        values[index, : item.shape[0]] = item
    mask = torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)
    return values, mask


def collate_rows(rows: Sequence[Row], pad_values: Mapping[str, float | int] | None = None) -> Batch:
    """Collate rows into a batch.

    Args:
        rows: the rows; every row carries the same modalities and targets.
        pad_values: modality -> padding value (default 0, e.g. a tokenizer's pad id).
    """
    pad_values = pad_values or {}
    modalities = sorted(rows[0]["inputs"])
    inputs = {
        modality: ModalityInput(*pad_sequences([row["inputs"][modality] for row in rows], pad_values.get(modality, 0)))
        for modality in modalities
    }
    targets = {name: torch.as_tensor([row["targets"][name] for row in rows]) for name in rows[0]["targets"]}
    return Batch(inputs=inputs, targets=targets, ids=[str(row["id"]) for row in rows])
