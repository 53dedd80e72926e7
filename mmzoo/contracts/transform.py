"""The transform contract: a per-example step that turns decoded data into model inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mmzoo.contracts.batch import ModalitySpec

__all__ = ["Transform"]


class Transform:
    """Base class of transforms (registered with ``mmzoo_register_transforms``).

    Values by :class:`~mmzoo.contracts.ModalitySpec` kind: ``waveform`` float ``(T,)``;
    ``features`` float ``(T, F)``; ``text`` a ``str``; ``tokens`` long ``(T,)``; ``image`` float
    ``(C, H, W)`` in ``[0, 1]`` until normalized.

    Life cycle, driven by the datamodule:

    1. :meth:`setup` once, in chain order, with the spec of the values it will receive; it returns
       the spec of what it produces (how encoders learn ``feature_dim``, ``vocab_size``...);
    2. :meth:`fit` once, if :attr:`needs_fit`, with the training split's values as they reach it
       (a tokenizer trained on the run's data);
    3. ``__call__(value, generator)`` for each example, inside DataLoader workers. Randomness must
       come from ``generator`` only, so that a seed gives the same augmentations with any number of
       workers.

    Attributes:
        random: the output depends on ``generator`` (an augmentation): never cached on disk.
        train_only: applied only to training batches (set from the recipe's ``train_only: true``).
        needs_fit: :meth:`fit` must run before use.
        modality: the modality whose chain holds this transform (set by mmzoo when building the
            recipe's ``transforms:`` section); names what :meth:`save` writes.
    """

    random: bool = False
    train_only: bool = False
    needs_fit: bool = False
    modality: str | None = None

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        """Check the input and return the output spec (default: unchanged)."""
        return input_spec

    def fit(self, values: Sequence[Any]) -> None:
        """Learn from the training values (only called when :attr:`needs_fit`)."""

    def __call__(self, value: Any, generator: torch.Generator) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def save(self, directory: Path) -> None:
        """Write anything learned by :meth:`fit` into the run directory (default: nothing)."""

    def cache_key(self) -> str:
        """A string that changes whenever the output for the same input would change.

        The default uses the class name and every public attribute holding a plain value; override
        it when settings live elsewhere (or when :meth:`fit` learns state).
        """
        settings = {
            key: value
            for key, value in sorted(vars(self).items())
            if not key.startswith("_") and isinstance(value, (int, float, str, bool, tuple, list, type(None)))
        }
        return f"{type(self).__module__}.{type(self).__qualname__}{settings}"
