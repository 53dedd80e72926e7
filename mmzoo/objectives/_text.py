"""Parts the transcript objectives share (``ctc``, ``sequence_ce``): CER/WER, and slot F1 for
transcripts that carry their slots inline (``[type value]``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from mmzoo.data.fields import TranscriptText
from mmzoo.ops.text import split_slots

__all__ = ["SlotF1", "TextMetric", "TranscriptText", "text_metrics", "update_text_metrics"]

TextMetric = Literal["cer", "wer", "slot_f1"]


class SlotF1(Metric):
    """Micro F1 of exact slot matches over inline-slot transcripts (``[type value]``): a predicted
    ``(type, value)`` counts when the reference has it too, each reference slot at most once.
    ``1.0`` when neither side has a slot."""

    full_state_update = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        for name in ("hits", "predicted", "expected"):
            self.add_state(name, default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[str], references: Sequence[str]) -> None:
        for prediction, reference in zip(predictions, references):
            found, wanted = Counter(split_slots(prediction)[1]), Counter(split_slots(reference)[1])
            self.hits += sum((found & wanted).values())
            self.predicted += sum(found.values())
            self.expected += sum(wanted.values())

    def compute(self) -> Tensor:
        total = self.predicted + self.expected
        return torch.where(total > 0, 2 * self.hits / total.clamp(min=1), torch.ones(()))


def text_metrics(names: Sequence[TextMetric]) -> dict[str, Any]:
    """Fresh torchmetrics ``CharErrorRate``/``WordErrorRate`` objects (and :class:`SlotF1`) by name."""
    from torchmetrics.text import CharErrorRate, WordErrorRate

    factories: dict[str, Callable[[], Any]] = {"cer": CharErrorRate, "wer": WordErrorRate, "slot_f1": SlotF1}
    return {name: factories[name]() for name in names}


def update_text_metrics(
    metrics: Any, hypotheses: Sequence[str], target: Tensor, text: TranscriptText, inline_slots: bool = False
) -> None:
    """Feed one batch to every metric of a collection: hypotheses against the target's texts.

    Rows whose target has no tokens (unlabelled) are left out. With ``inline_slots``, ``cer`` and
    ``wer`` compare the plain words (slots unwrapped) and ``slot_f1`` the slots.

    Args:
        hypotheses: ``B`` texts; target: ``(B, L)`` ids, negative padding.
    """
    labelled = ((target > 0).sum(dim=-1) > 0).tolist()
    if not any(labelled):
        return
    predictions = [hypothesis for hypothesis, keep in zip(hypotheses, labelled) if keep]
    references = [reference for reference, keep in zip(text(target), labelled) if keep]
    words = (
        ([split_slots(p)[0] for p in predictions], [split_slots(r)[0] for r in references])
        if inline_slots
        else (predictions, references)
    )
    for name, metric in metrics.items(keep_base=True):
        metric.update(*((predictions, references) if name.endswith("slot_f1") else words))
