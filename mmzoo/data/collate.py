"""Pad a list of rows into a :class:`~mmzoo.contracts.Batch` with boolean masks.

Missing modalities: a row whose value is ``None`` for a modality gets an all-false mask for it
(zero padding for sequences, a zero image for images). A modality is always present in
``Batch.inputs`` when the datamodule provides it, even if no row of the batch has it.

Targets of the same shape are stacked. Variable-length 1-D targets (``transcript`` character ids)
are padded with ``-1`` into ``(B, L)``: their lengths are ``(target >= 0).sum(-1)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts import Batch, ModalityInput, ModalitySpec

__all__ = ["Row", "pad_sequences", "stack_images", "collate_targets", "collate_rows", "TARGET_PAD"]

#: The padding value of variable-length (transcript) targets.
TARGET_PAD = -1

#: One example: ``{"id": str, "inputs": {modality: Tensor or None}, "targets": {name: number or Tensor}}``.
Row = Mapping[str, Any]


def pad_sequences(
    items: Sequence[Tensor | None], pad_value: float | int = 0, *, template: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Stack variable-length tensors along a new batch dimension.

    Inputs:
        items: ``B`` tensors of shape ``(T_i, ...)`` with the same trailing shape, or ``None`` for
            rows without this modality (length 0). ``template`` gives dtype and trailing shape when
            every item is ``None``.
    Returns:
        ``values (B, max(1, max T_i), ...)`` padded with ``pad_value`` and ``mask`` of the same
        leading shape, ``True`` at real positions.
    """
    present = [item for item in items if item is not None]
    reference = present[0] if present else template
    if reference is None:
        raise ValueError("pad_sequences needs at least one tensor or a template")
    lengths = torch.tensor([0 if item is None else item.shape[0] for item in items])
    longest = max(1, int(lengths.max()))
    values = reference.new_full((len(items), longest, *reference.shape[1:]), pad_value)
    for index, item in enumerate(items):
        if item is not None:
            values[index, : item.shape[0]] = item
    mask = torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)
    return values, mask


def stack_images(items: Sequence[Tensor | None], spec: ModalitySpec | None = None) -> tuple[Tensor, Tensor]:
    """Stack ``(C, H, W)`` images into ``(B, C, H, W)``, zero-padding to the largest size.

    Returns:
        ``values (B, C, H, W)`` and ``mask (B, 1)``, ``False`` for rows without an image.
    """
    present = [item for item in items if item is not None]
    if present:
        channels = present[0].shape[0]
        height = max(item.shape[1] for item in present)
        width = max(item.shape[2] for item in present)
    else:
        channels = (spec.channels if spec else None) or 3
        height, width = spec.image_size if spec and spec.image_size else (1, 1)
    values = torch.zeros(len(items), channels, height, width)
    for index, item in enumerate(items):
        if item is not None:
            values[index, :, : item.shape[1], : item.shape[2]] = item
    mask = torch.tensor([[item is not None] for item in items])
    return values, mask


def _template(spec: ModalitySpec | None) -> Tensor | None:
    if spec is None:
        return None
    if spec.kind == "tokens":
        return torch.zeros(0, dtype=torch.long)
    if spec.kind == "features":
        return torch.zeros(0, spec.feature_dim or 1)
    return torch.zeros(0)


def collate_targets(values: Sequence[Any]) -> Tensor:
    """Stack one target over the rows; 1-D tensors of different lengths are padded with ``-1``.

    Returns:
        ``(B, ...)`` the stacked values, or ``(B, max(1, max L_i))`` padded with :data:`TARGET_PAD`
        for variable-length 1-D targets (lengths: ``(target >= 0).sum(-1)``).
    """
    tensors = [torch.as_tensor(value) for value in values]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1 and all(t.dim() == 1 for t in tensors):
        padded, _ = pad_sequences(tensors, TARGET_PAD)
        return padded
    if len(shapes) == 1 and next(iter(shapes)) == (0,):
        return torch.full((len(tensors), 1), TARGET_PAD, dtype=tensors[0].dtype)
    return torch.stack(tensors)


def collate_rows(rows: Sequence[Row], specs: Mapping[str, ModalitySpec] | None = None) -> Batch:
    """Collate rows into a batch.

    Args:
        rows: the rows; every row carries the same modalities and targets.
        specs: modality -> spec; gives token padding ids, image modalities, and the shape of a
            modality that no row of the batch has.
    """
    specs = specs or {}
    inputs: dict[str, ModalityInput] = {}
    for modality in sorted(rows[0]["inputs"]):
        items = [row["inputs"][modality] for row in rows]
        spec = specs.get(modality)
        if spec is not None and spec.kind == "image":
            inputs[modality] = ModalityInput(*stack_images(items, spec))
        else:
            pad = spec.pad_id if spec is not None and spec.kind == "tokens" else 0
            inputs[modality] = ModalityInput(*pad_sequences(items, pad, template=_template(spec)))
    targets = {name: collate_targets([row["targets"][name] for row in rows]) for name in rows[0]["targets"]}
    meta = [row["meta"] for row in rows] if "meta" in rows[0] else []
    return Batch(inputs=inputs, targets=targets, ids=[str(row["id"]) for row in rows], meta=meta)
