"""Parts the transcript objectives share (``ctc``, ``sequence_ce``): ids to text, and CER/WER."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from torch import Tensor

from mmzoo.data.fields import transcript_tokenizer
from mmzoo.ops.text import DEFAULT_ALPHABET, texts_of

__all__ = ["TextMetric", "TranscriptText", "text_metrics", "update_text_metrics"]

TextMetric = Literal["cer", "wer"]


class TranscriptText:
    """Turns id rows of a transcript target's vocabulary into text.

    Args:
        alphabet: characters of ids ``1..V`` (``None``: the transcript default).
        tokenizer: instead of ``alphabet``, the transcript's tokenizer (ids ``1..V`` are its ids plus one).

    Raises:
        ValueError: both are given.
    """

    def __init__(self, alphabet: str | None, tokenizer: str | None) -> None:
        if alphabet is not None and tokenizer is not None:
            raise ValueError("give `alphabet` or `tokenizer`, not both")
        self.alphabet = DEFAULT_ALPHABET if alphabet is None else alphabet
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        """``V``: the tokenizer's size, or the alphabet's length."""
        return transcript_tokenizer(self.tokenizer)[1] if self.tokenizer else len(self.alphabet)

    def __call__(self, ids: Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Texts of id rows ``(B, L)`` (ids ``<= 0``, padding and blanks or ``EOS``, are skipped)."""
        rows = ids.tolist() if isinstance(ids, Tensor) else ids
        tokenizer = transcript_tokenizer(self.tokenizer)[0] if self.tokenizer else None
        return texts_of(rows, alphabet=self.alphabet, tokenizer=tokenizer)


def text_metrics(names: Sequence[TextMetric]) -> dict[str, Any]:
    """Fresh torchmetrics ``CharErrorRate``/``WordErrorRate`` objects by name."""
    from torchmetrics.text import CharErrorRate, WordErrorRate

    factories: dict[str, Callable[[], Any]] = {"cer": CharErrorRate, "wer": WordErrorRate}
    return {name: factories[name]() for name in names}


def update_text_metrics(metrics: Any, hypotheses: Sequence[str], target: Tensor, text: TranscriptText) -> None:
    """Feed one batch to every metric of a collection: hypotheses against the target's texts.

    Rows whose target has no tokens (unlabelled) are left out.

    Args:
        hypotheses: ``B`` texts; target: ``(B, L)`` ids, negative padding.
    """
    labelled = ((target > 0).sum(dim=-1) > 0).tolist()
    if not any(labelled):
        return
    predictions = [hypothesis for hypothesis, keep in zip(hypotheses, labelled) if keep]
    references = [reference for reference, keep in zip(text(target), labelled) if keep]
    for _, metric in metrics.items(keep_base=True):
        metric.update(predictions, references)
