"""What flows between the parts of a model: modality specs, batches and the outputs of encoders,
fusions and objectives.

Shapes use ``B`` for batch, ``T`` for sequence length (per modality), ``D`` for feature width.
Masks are boolean with ``True`` marking real (non-padded) positions.

Missing modalities: a row that lacks a modality has an all-``False`` mask for it. A modality absent
from the whole batch is absent from :attr:`Batch.inputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

__all__ = ["ModalitySpec", "ModalityInput", "Batch", "Encoded", "Fused", "LossOutput"]


@dataclass(frozen=True)
class ModalitySpec:
    """What a datamodule delivers for one modality; passed to encoder factories as ``input_spec``.

    Attributes:
        kind: ``features`` (``values`` float ``(B, T, feature_dim)``), ``tokens`` (``values`` long
            ``(B, T)``), ``waveform`` (float ``(B, T)``), ``image`` (float ``(B, C, H, W)``) or
            ``text`` (raw strings; only before tokenization, never in a batch).
        feature_dim: width of a ``features`` frame.
        vocab_size: number of token ids, for ``tokens``.
        pad_id: the id used for padding, for ``tokens``.
        sample_rate: samples (``waveform``) or frames (``features``) per second, when meaningful.
        channels: image channels, for ``image``.
        image_size: ``(height, width)`` of every image, for ``image``, when fixed.
    """

    kind: Literal["features", "tokens", "waveform", "image", "text"]
    feature_dim: int | None = None
    vocab_size: int | None = None
    pad_id: int = 0
    sample_rate: float | None = None
    channels: int | None = None
    image_size: tuple[int, int] | None = None


class ModalityInput(NamedTuple):
    """One modality of a batch.

    Attributes:
        values: padded values, ``(B, T, F)`` features, ``(B, T)`` tokens or samples, or
            ``(B, C, H, W)`` images.
        mask: bool ``(B, T)``, ``True`` at real positions; ``(B, 1)`` for images (``False`` when the
            row has no image).
    """

    values: Tensor
    mask: Tensor


class Batch(NamedTuple):
    """A batch: inputs per modality, targets by name, and row ids (for predictions).

    Attributes:
        inputs: modality name -> :class:`ModalityInput`.
        targets: target name -> tensor with leading dimension ``B``.
        ids: one identifier per row.
        meta: optional plain-Python facts per row (e.g. the source file, the raw transcript), one
            dict per row or empty; predictions carry them through unchanged.
    """

    inputs: dict[str, ModalityInput]
    targets: dict[str, Tensor]
    ids: list[str]
    meta: Sequence[Mapping[str, Any]] = ()

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device``; ids and meta are left as they are."""
        inputs = {
            m: ModalityInput(
                x.values.to(device, non_blocking=non_blocking), x.mask.to(device, non_blocking=non_blocking)
            )
            for m, x in self.inputs.items()
        }
        targets = {k: v.to(device, non_blocking=non_blocking) for k, v in self.targets.items()}
        return Batch(inputs=inputs, targets=targets, ids=self.ids, meta=self.meta)


class Encoded(NamedTuple):
    """An encoder's output.

    Attributes:
        seq: ``(B, T', D)`` features per position (``T'`` may differ from the input ``T``).
        mask: bool ``(B, T')``, ``True`` at real positions.
        pooled: ``(B, D)`` one vector per row, computed from real positions only.
        layers: optional intermediate sequences, input to output, each ``(B, T', D)`` with the same
            ``mask`` (for fusions that fuse at several depths).
    """

    seq: Tensor
    mask: Tensor
    pooled: Tensor
    layers: tuple[Tensor, ...] | None = None


class Fused(NamedTuple):
    """A fusion's output.

    Attributes:
        pooled: ``(B, D)`` the fused representation.
        seq: optional ``(B, T, D)`` fused sequence.
        mask: optional bool ``(B, T)`` for ``seq``.
        parts: optional modality -> ``(B, D)`` per-modality representations in the fused space
            (decision-level fusions: heads can score each modality alone from them).
        weights: optional ``(B, M)`` weights the fusion gave each modality (sorted order), for
            inspection.
    """

    pooled: Tensor
    seq: Tensor | None = None
    mask: Tensor | None = None
    parts: dict[str, Tensor] | None = None
    weights: Tensor | None = None


class LossOutput(NamedTuple):
    """What an objective may return instead of a bare loss: the loss and extra values to log."""

    loss: Tensor
    logs: dict[str, Tensor]
