"""The fusion contract: every modality's :class:`~mmzoo.contracts.batch.Encoded` in, one
:class:`~mmzoo.contracts.batch.Fused` out."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from mmzoo.contracts.batch import Encoded, Fused

__all__ = ["Fusion"]


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
