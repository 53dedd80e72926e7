"""The data loader every built-in datamodule uses: seeded per epoch and resumable mid-epoch.

Two things make a run that is killed and resumed see exactly the batches an uninterrupted run sees:

- :class:`EpochSampler` orders each epoch by a permutation seeded with ``(seed, epoch)``. Lightning
  tells it the epoch (``set_epoch``) before every epoch but the first pass of a run, whose iterator it
  creates earlier: the loader is therefore created with the epoch a (possibly resumed) run starts in
  (``MultimodalDataModule.starting_epoch``). Nothing is drawn from the process's global random state.
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
from torch.utils.data import Dataset, DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

__all__ = ["EpochSampler", "resumable_loader"]

_MIX = 1_000_003


def _shard() -> tuple[int, int]:
    """``(rank, world size)`` of this process in the default process group (``(0, 1)`` without one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochSampler(DistributedSampler):
    """Yields ``(index, epoch)`` pairs (or plain indices with ``pairs=False``): a permutation seeded
    with ``(seed, epoch)`` when shuffling, else the plain order; in a multi-process run, this
    process's share of it.

    The epoch changes only through :meth:`set_epoch`, which Lightning calls before each epoch;
    ``__iter__`` has no side effect (a multi-process loader may call it more than once per epoch).

    It is a ``DistributedSampler`` so that Lightning leaves it in place under DDP and FSDP instead of
    wrapping it in one of its own, whose shuffle would depend on an epoch that Lightning sets only after
    a resumed run's first batch is drawn. The processes split the permutation as ``DistributedSampler``
    does: the order is padded with its own first indices to a multiple of the number of processes, and
    process ``r`` takes every ``world``-th index from ``r``.
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int, pairs: bool = True, epoch: int = 0) -> None:
        # One replica here: the process group may not exist yet; __iter__ and __len__ read it when used.
        super().__init__(range(size), num_replicas=1, rank=0, shuffle=shuffle, seed=seed)  # type: ignore[arg-type]
        self.size = size
        self.pairs = pairs
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        _, world = _shard()
        return -(-self.size // world)

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        if self.shuffle:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * _MIX + epoch)).tolist()
        else:
            order = list(range(self.size))
        rank, world = _shard()
        if world > 1 and order:
            padded = -(-len(order) // world) * world
            order = (order * (padded // len(order) + 1))[:padded][rank::world]
        if self.pairs:
            return ((i, epoch) for i in order)
        return iter(order)


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
    epoch: int = 0,
) -> StatefulDataLoader:
    """A ``StatefulDataLoader`` over ``dataset`` with an :class:`EpochSampler` (see the module docstring).

    Args:
        pairs: index the dataset with ``(index, epoch)`` pairs (``ManifestDataset``) rather than ints.
        epoch: the epoch of the first pass (:meth:`mmzoo.contracts.datamodule.MultimodalDataModule.starting_epoch`).
    """
    return StatefulDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), shuffle=shuffle, seed=seed, pairs=pairs, epoch=epoch),  # type: ignore[arg-type]
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
