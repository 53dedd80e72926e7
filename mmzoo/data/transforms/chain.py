"""Apply a modality's transforms in order, honouring ``train_only`` and the on-disk cache split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.transform import Transform

__all__ = ["TransformChain"]


class TransformChain:
    """The transforms of one modality, as the recipe lists them.

    The chain splits into a *cacheable prefix* (the leading transforms that are neither random nor
    train-only, whose output a datamodule may keep on disk) and the rest, applied every time.
    """

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        self.transforms = list(transforms)
        split = 0
        for transform in self.transforms:
            if transform.random or transform.train_only:
                break
            split += 1
        self.prefix = self.transforms[:split]
        self.rest = self.transforms[split:]

    def setup(self, spec: ModalitySpec) -> ModalitySpec:
        """Set every transform up in order; returns the spec of the chain's output."""
        for transform in self.transforms:
            spec = transform.setup(spec)
        return spec

    def fit(self, values: Sequence[Any]) -> None:
        """Fit the transforms that need it, each on the training values as they reach it.

        Call after :meth:`setup` (the transforms before a fitted one must be set up to run), and
        call :meth:`setup` again afterwards: a fitted transform may describe its output anew.
        """
        last = max((i for i, t in enumerate(self.transforms) if t.needs_fit), default=-1)
        generator = torch.Generator().manual_seed(0)
        for index, transform in enumerate(self.transforms[: last + 1]):
            if transform.needs_fit:
                transform.fit(values)
            if index < last:
                values = [transform(value, generator) for value in values]

    def cache_key(self) -> str:
        """Identifies the output of :attr:`prefix`."""
        return "|".join(t.cache_key() for t in self.prefix)

    def apply_prefix(self, value: Any, generator: torch.Generator) -> Any:
        for transform in self.prefix:
            value = transform(value, generator)
        return value

    def apply_rest(self, value: Any, generator: torch.Generator, training: bool) -> Any:
        for transform in self.rest:
            if transform.train_only and not training:
                continue
            value = transform(value, generator)
        return value

    def __call__(self, value: Any, generator: torch.Generator, training: bool) -> Any:
        return self.apply_rest(self.apply_prefix(value, generator), generator, training)
