"""The data loader every built-in datamodule uses: seeded per epoch and resumable mid-epoch.

Two things make a run that is killed and resumed see exactly the batches an uninterrupted run sees:

- :class:`EpochSampler` orders each epoch by a permutation seeded with ``(seed, epoch)``, and
  Lightning tells it the epoch (``set_epoch``) before every epoch, also the one a resumed run starts
  in. Nothing is drawn from the process's global random state.
- :func:`resumable_loader` returns torchdata's ``StatefulDataLoader``. Lightning saves its position in
  every checkpoint and restores it on resume, so a run resumed from a mid-epoch checkpoint continues
  with the next batch rather than at the start of the epoch. Its workers are seeded from a generator
  of its own, so that starting an epoch's workers does not draw from the global random state either
  (the model's dropout draws from it, and a resumed run restores it).

Per-example randomness (augmentation, corruption) never comes from worker seeds: datasets derive it
from ``(seed, epoch, index)`` (:func:`mmzoo.data.dataset.example_generator`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler
from torchdata.stateful_dataloader import StatefulDataLoader

__all__ = ["EpochSampler", "resumable_loader"]

_MIX = 1_000_003


class EpochSampler(Sampler[Any]):
    """Yields ``(index, epoch)`` pairs (or plain indices with ``pairs=False``): a permutation seeded
    with ``(seed, epoch)`` when shuffling, else the plain order.

    The epoch changes only through :meth:`set_epoch`, which Lightning calls before each epoch;
    ``__iter__`` has no side effect (a multi-process loader may call it more than once per epoch).
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int, pairs: bool = True) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.pairs = pairs
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        if self.shuffle:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * _MIX + epoch))
            indices = (int(i) for i in order)
        else:
            indices = iter(range(self.size))
        if self.pairs:
            return ((i, epoch) for i in indices)
        return indices


def resumable_loader(
    dataset: Dataset[Any],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    pin_memory: bool = False,
    pairs: bool = True,
) -> StatefulDataLoader:
    """A ``StatefulDataLoader`` over ``dataset`` with an :class:`EpochSampler` (see the module docstring).

    Args:
        pairs: index the dataset with ``(index, epoch)`` pairs (``ManifestDataset``) rather than ints.
    """
    return StatefulDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), shuffle=shuffle, seed=seed, pairs=pairs),  # type: ignore[arg-type]
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
