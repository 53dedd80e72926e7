"""Whole-set retrieval recall@k as a torchmetrics ``Metric``."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

__all__ = ["RetrievalRecallAtK"]


class RetrievalRecallAtK(Metric):
    """Fraction of queries whose paired item is among the ``k`` most similar of the whole set.

    Row ``i`` of ``queries`` is paired with row ``i`` of ``gallery``; similarity is the dot
    product (cosine similarity for normalized embeddings). Both sets are accumulated over the
    stage (and concatenated across processes), and ranked at :meth:`compute`.

    Ties are broken at random, in expectation: with ``g`` items scoring higher than the paired one
    and ``t`` others scoring the same, the query counts ``clamp((k - g) / (t + 1), 0, 1)``. So
    collapsed (identical) embeddings score chance (``k / N``), not 1, and an exact duplicate of the
    paired item (the same file in two rows) splits the hit with it.

    Args:
        k: how many retrieved items count.
        chunk_size: queries ranked at a time (bounds memory at ``chunk_size x N`` scores).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, k: int, chunk_size: int = 4096, **kwargs) -> None:
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k = k
        self.chunk_size = chunk_size
        self.add_state("queries", default=[], dist_reduce_fx="cat")
        self.add_state("gallery", default=[], dist_reduce_fx="cat")

    def update(self, queries: Tensor, gallery: Tensor) -> None:
        """Add paired rows: ``queries (B, D)`` and ``gallery (B, D)``."""
        if queries.shape[0] != gallery.shape[0]:
            raise ValueError(f"queries and gallery need the same rows, got {queries.shape[0]} and {gallery.shape[0]}")
        self.queries.append(queries.detach().float())
        self.gallery.append(gallery.detach().float())

    def compute(self) -> Tensor:
        queries = dim_zero_cat(self.queries) if self.queries else torch.zeros(0, 1, device=self.device)
        gallery = dim_zero_cat(self.gallery) if self.gallery else torch.zeros(0, 1, device=self.device)
        total = queries.shape[0]
        if total == 0:
            return torch.tensor(0.0, device=self.device)
        hits = torch.zeros((), device=queries.device)
        for start in range(0, total, self.chunk_size):
            scores = queries[start : start + self.chunk_size] @ gallery.T  # (chunk, N)
            rows = torch.arange(scores.shape[0], device=scores.device)
            paired = scores[rows, rows + start].unsqueeze(1)
            higher = (scores > paired).sum(dim=1)
            tied = (scores == paired).sum(dim=1) - 1  # not counting the paired item itself
            hits = hits + ((self.k - higher) / (tied + 1)).clamp(0, 1).sum()
        return hits / total
