"""The small contracts every component follows: what flows between data, encoders, fusion, heads
and objectives.

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
from torch import Tensor, nn

__all__ = [
    "ModalitySpec",
    "ModalityInput",
    "Batch",
    "Encoded",
    "Fused",
    "LossOutput",
    "Encoder",
    "Fusion",
    "Head",
    "Objective",
]


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


class Encoder(nn.Module):
    """Base class of encoders.

    Subclasses set :attr:`dim` (the width ``D`` of ``seq`` and ``pooled``) and implement
    ``forward(values, mask) -> Encoded``. Padded positions must never change ``pooled``.
    :attr:`input_kinds` lists the :class:`ModalitySpec` kinds the encoder reads. Encoders built
    from repeated blocks should list them, input to output, in a ``blocks()`` method: the common
    options ``train_last`` and ``gradient_checkpointing`` use it.
    """

    dim: int
    input_kinds: tuple[str, ...] = ("features",)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:  # pragma: no cover - interface
        raise NotImplementedError


class Fusion(nn.Module):
    """Base class of fusions: ``forward(encoded: Mapping[str, Encoded]) -> Fused``.

    Subclasses set :attr:`dim` (the width of ``Fused.pooled``). They must work for two or more
    modalities, iterate modalities in sorted order, and ignore padded positions.

    :attr:`handles_missing` says whether rows may lack a modality (an all-false mask): such a
    fusion gives finite outputs that do not depend on the absent modality's values. Recipes that
    let a modality be missing (``optional: true``) are refused at validation time for the others.
    """

    dim: int
    handles_missing: bool = False

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:  # pragma: no cover - interface
        raise NotImplementedError


class Head(nn.Module):
    """Base class of task heads: ``forward(fused, encoded) -> output`` (usually a tensor).

    :meth:`predict` turns the output into per-row values for prediction files. A head whose
    output is a mapping gives classification objectives its scores under ``"logits"`` (see
    :func:`logits_of`). A head that sets :attr:`reads_inputs` is also given the batch's raw
    inputs, ``forward(fused, encoded, inputs)``, for heads that score an input itself (such as
    how well a transcript aligns with the audio).
    """

    reads_inputs: bool = False

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def predict(self, output: Any) -> dict[str, Tensor]:
        """Per-row prediction values, each with leading dimension ``B`` (default: the raw output)."""
        return {"output": output}


def logits_of(output: Any) -> Tensor:
    """A head output's class scores: the output itself, or its ``"logits"`` when it is a mapping."""
    return output["logits"] if isinstance(output, Mapping) else output


class Objective(nn.Module):
    """Base class of objectives: ``forward(outputs, batch) -> loss`` (or :class:`LossOutput`).

    ``outputs`` maps head name -> that head's output. Objectives may own parameters. Metrics are
    torchmetrics objects created by :meth:`make_metrics` (one set per stage) and fed by
    :meth:`update_metrics`.
    """

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor | LossOutput:  # pragma: no cover
        raise NotImplementedError

    def make_metrics(self) -> dict[str, Any]:
        """Fresh ``torchmetrics.Metric`` objects by name (default: none)."""
        return {}

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        """Update a ``MetricCollection`` made from :meth:`make_metrics` with one batch."""

    def extra_forward(self, batch: Batch, model: Any) -> Any:
        """Run extra passes of ``model`` that this objective needs (default: none).

        Objectives that score modified inputs (masked tokens, mismatched pairs) build them here and
        call ``model(modified_batch)``, so that the main pass and the other objectives see the batch
        unchanged. The result reaches :meth:`forward` as ``outputs["_extra"]``.
        """
        return None

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        """Random ``(outputs, batch)`` this objective accepts, for contract tests.

        Tensors in ``outputs`` that the loss depends on must require gradients.
        """
        raise NotImplementedError(f"{type(self).__name__} does not provide example_inputs()")
