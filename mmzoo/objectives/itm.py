"""Matching: do these modalities belong together? Negatives mismatched in an extra pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.contracts import Batch, ModalityInput, Objective, logits_of

__all__ = ["MatchingObjective", "pick_negatives"]


def pick_negatives(similarity: Tensor | None, size: int, generator: torch.Generator | None = None) -> Tensor:
    """For each row, another row whose ``modality`` input will be paired with it.

    With a similarity matrix ``(B, B)`` the partner is sampled in proportion to
    ``softmax(similarity)`` over the other rows (hard negatives, as in ALBEF, Li et al. 2021);
    without one, uniformly among the other rows.

    Returns:
        long ``(B,)`` partner indices, never the row itself (for ``B >= 2``).
    """
    if size < 2:
        return torch.zeros(size, dtype=torch.long)
    if similarity is None:
        weights = torch.ones(size, size)
    else:
        weights = similarity.detach().float().cpu().softmax(dim=1)
    weights = weights.clone()
    weights.fill_diagonal_(0.0)
    weights = weights + (weights.sum(dim=1, keepdim=True) == 0).float() * (1 - torch.eye(size))
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


class MatchingObjective(Objective):
    """Image/audio-text matching (ITM): classify matched against mismatched pairs.

    In an extra pass, every row's ``modality`` input is swapped for another row's, giving one
    mismatched pair per row; a 2-class ``classification`` head on the fused vector must tell the
    original pairs (class 1, from the main pass) from the swapped ones (class 0). With
    ``negatives: hard`` and two ``embedding`` heads (e.g. those of a ``clip`` objective), the
    partner is sampled by their similarity, so the hard negatives are pairs the contrastive
    embeddings find alike (Li et al. 2021, "Align before Fuse"); otherwise uniformly at random.
    When the data already holds mismatched pairs (e.g. the ``speech_qc`` datamodule's ``match``
    target), ``target`` gives the main pass its labels instead of "all matched"; rows whose
    target is unknown (``-100``) are left out of the loss.

    Args:
        head: a ``classification`` head with 2 classes, scoring the fused vector.
        modality: the modality swapped between rows to make negatives.
        negatives: ``hard`` (needs ``embeddings``) or ``random``.
        embeddings: two embedding heads whose similarity picks hard negatives.
        target: a class target (0 = mismatched, 1 = matched) labelling the main pass's pairs.
    """

    def __init__(
        self,
        head: str,
        modality: str,
        negatives: Literal["hard", "random"] = "hard",
        embeddings: list[str] | None = None,
        target: str | None = None,
        heads: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        classes = getattr((heads or {}).get(head), "num_classes", 2)
        if classes != 2:
            raise ValueError(f"head '{head}' must have 2 classes (mismatched, matched), has {classes}")
        if negatives == "hard" and (embeddings is None or len(embeddings) != 2):
            raise ValueError("negatives: hard needs `embeddings`: the two embedding heads to compare")
        missing = [name for name in embeddings or [] if heads is not None and name not in heads]
        if missing:
            raise ValueError(f"no embedding heads {missing} in model.heads")
        self.head = head
        self.modality = modality
        self.negatives = negatives
        self.embeddings = list(embeddings or [])
        self.target = target

    def extra_forward(self, batch: Batch, model: Any) -> Tensor:
        similarity = None
        if self.negatives == "hard":
            with torch.no_grad():
                outputs, _, _ = model(batch, heads=self.embeddings)
            first, second = (outputs[name] for name in self.embeddings)
            similarity = first @ second.T
        generator = None if self.training else torch.Generator().manual_seed(len(batch.ids))
        partner = pick_negatives(similarity, len(batch.ids), generator).to(batch.inputs[self.modality].values.device)
        values, mask = batch.inputs[self.modality]
        swapped = Batch(
            inputs={**batch.inputs, self.modality: ModalityInput(values[partner], mask[partner])},
            targets=batch.targets,
            ids=batch.ids,
        )
        negative_outputs, _, _ = model(swapped, heads=[self.head])
        return logits_of(negative_outputs[self.head])

    def _pairs(self, outputs: Mapping[str, Any], batch: Batch) -> tuple[Tensor, Tensor]:
        """Logits ``(2B', 2)`` of the main and the swapped pairs, and their labels ``(2B',)``."""
        positives = logits_of(outputs[self.head])
        negatives = outputs["_extra"]
        given = torch.ones(len(positives), dtype=torch.long, device=positives.device)
        if self.target is not None:
            given = batch.targets[self.target].long().to(positives.device)
        known = given >= 0
        logits = torch.cat([positives[known], negatives]).float()
        labels = torch.cat([given[known], torch.zeros(len(negatives), dtype=torch.long, device=logits.device)])
        return logits, labels

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        logits, labels = self._pairs(outputs, batch)
        return F.cross_entropy(logits, labels)

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

        return {"accuracy": BinaryAccuracy(), "auroc": BinaryAUROC()}

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        logits, labels = self._pairs(outputs, batch)
        metrics.update(logits.detach().softmax(dim=-1)[:, 1], labels)

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        generator = torch.Generator().manual_seed(0)
        positives = torch.randn(batch_size, 2, generator=generator).requires_grad_(True)
        negatives = torch.randn(batch_size, 2, generator=generator).requires_grad_(True)
        outputs = {self.head: positives, "_extra": negatives}
        # With a `target`, rows say whether their pair matches (1), does not (0) or is unknown (-1).
        targets = {} if self.target is None else {self.target: torch.tensor([1, 0, -1] * batch_size)[:batch_size]}
        return outputs, Batch(inputs={}, targets=targets, ids=[str(i) for i in range(batch_size)])
