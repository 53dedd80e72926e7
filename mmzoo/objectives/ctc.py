"""CTC loss of a ``ctc`` head against a transcript target, with character and word error rates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import PositiveInt
from mmzoo.contracts import Batch, Objective
from mmzoo.objectives._text import TranscriptText, text_metrics, update_text_metrics
from mmzoo.ops.ctc_decode import greedy_decode, prefix_beam_search
from mmzoo.ops.slot_markup import SlotMarkup

__all__ = ["CTCObjective"]

MetricName = Literal["cer", "wer"]


class CTCObjective(Objective):
    """Connectionist temporal classification loss (blank id 0) with CER and WER.

    Scores a ``ctc`` head's ``{"log_probs": (B, T, V + 1), "lengths": (B,)}`` against a
    ``transcript`` target ``(B, L)`` of character ids padded with ``-1``. Rows with an empty
    transcript (unlabelled) are left out of the loss. The loss of each row is divided by its
    transcript length, then averaged over rows (``reduction="mean"`` of ``ctc_loss``).

    Args:
        head: name of the head in ``model.heads`` whose log-probabilities are scored.
        target: name of the transcript target in the batch.
        zero_infinity: impossible alignments (more characters than frames) give a zero loss and
            gradient instead of infinity.
        decoder: how metrics decode the log-probabilities: ``greedy`` (best path) or ``beam``
            (prefix beam search).
        beam_size: prefixes kept by the ``beam`` decoder.
        alphabet: characters of ids ``1..V``, to turn ids into text for the metrics; ``null`` for
            the transcript default (lowercase a-z, space and apostrophe).
        tokenizer: instead of ``alphabet``: the tokenizer of a token-vocabulary transcript (the
            target's ``tokenizer``); ids ``1..V`` are its ids plus one.
        metrics: torchmetrics to report: ``cer`` (character error rate) and/or ``wer`` (word error
            rate), on decoded texts against the reference texts.
        inline_slots: the target writes slots inline (``please email [person anna]``) and the head
            learns only the words that were said: the markup (each ``[``, slot type and the space
            after it, and ``]``) is removed from the target for the loss and the metrics. Needs an
            alphabet with ``[``, ``]`` and the space. Joint decoding with a decoder whose target
            writes inline slots scores the same way (docs/generation.md).
    """

    def __init__(
        self,
        head: str,
        target: str,
        heads: Mapping[str, Any] | None = None,
        zero_infinity: bool = True,
        decoder: Literal["greedy", "beam"] = "greedy",
        beam_size: PositiveInt = 8,
        alphabet: str | None = None,
        tokenizer: str | None = None,
        metrics: list[MetricName] = ["cer", "wer"],  # noqa: B006 - read only
        inline_slots: bool = False,
    ) -> None:
        super().__init__()
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        self.head = head
        self.target = target
        self.zero_infinity = zero_infinity
        self.decoder = decoder
        self.beam_size = beam_size
        self.text = TranscriptText(alphabet, tokenizer)
        self.alphabet, self.tokenizer = self.text.alphabet, tokenizer
        size = self.text.vocab_size
        vocab = getattr((heads or {}).get(head), "vocab_size", None)
        if vocab is not None and vocab != size:
            what = f"tokenizer '{tokenizer}' has {size} tokens" if tokenizer else f"the alphabet has {size} characters"
            raise ValueError(f"ctc objective: head '{head}' has vocab_size {vocab} but {what}")
        self.metric_names = list(metrics)
        if inline_slots and tokenizer is not None:
            raise ValueError("ctc objective: inline_slots needs a character alphabet, not a tokenizer")
        self.markup = SlotMarkup.of_alphabet(self.alphabet) if inline_slots else None

    def heard(self, target: Tensor) -> Tensor:
        """The target ``(B, L)`` the head learns: with ``inline_slots``, without the slot markup."""
        return target if self.markup is None else self.markup.strip(target.long())

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        output = outputs[self.head]
        log_probs: Tensor = output["log_probs"].float()
        input_lengths = output["lengths"].long()
        target = self.heard(batch.targets[self.target].long())
        target_lengths = (target >= 0).sum(dim=-1)
        keep = target_lengths > 0
        if not bool(keep.any()):
            return log_probs.sum() * 0.0
        return F.ctc_loss(
            log_probs[keep].transpose(0, 1),  # (T, B, C)
            target[keep].clamp(min=0),
            input_lengths[keep],
            target_lengths[keep],
            blank=0,
            reduction="mean",
            zero_infinity=self.zero_infinity,
        )

    def decode(self, output: Mapping[str, Tensor]) -> list[list[int]]:
        """Label ids per row, with the configured decoder."""
        if self.decoder == "beam":
            return prefix_beam_search(output["log_probs"], output["lengths"], beam_size=self.beam_size)
        return greedy_decode(output["log_probs"], output["lengths"])

    def texts(self, ids: Tensor | list[list[int]]) -> list[str]:
        """Texts of id rows (``-1`` padding and blanks skipped)."""
        return self.text(ids)

    def make_metrics(self) -> dict[str, Any]:
        return text_metrics(self.metric_names)

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        target = self.heard(batch.targets[self.target])
        if bool(((target > 0).sum(dim=-1) > 0).any()):  # decode only batches with a labelled row
            update_text_metrics(metrics, self.texts(self.decode(outputs[self.head])), target, self.text)

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        generator = torch.Generator().manual_seed(0)
        frames = 12
        vocab = self.text.vocab_size
        logits = torch.randn(batch_size, frames, vocab + 1, generator=generator)
        log_probs = logits.log_softmax(dim=-1).requires_grad_(True)
        input_lengths = torch.tensor([frames - (i % 3) for i in range(batch_size)])
        target_lengths = [1 + i % 4 for i in range(batch_size)]
        target = torch.full((batch_size, max(target_lengths)), -1, dtype=torch.long)
        for index, length in enumerate(target_lengths):
            target[index, :length] = torch.randint(1, vocab + 1, (length,), generator=generator)
        outputs = {self.head: {"log_probs": log_probs, "lengths": input_lengths}}
        return outputs, Batch(inputs={}, targets={self.target: target}, ids=[str(i) for i in range(batch_size)])
