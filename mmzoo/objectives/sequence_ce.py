"""Cross-entropy of a decoder's teacher-forced logits, with label smoothing, CER and WER."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import Range
from mmzoo.contracts import IGNORE, Batch, Decoder, Objective, teacher_forcing
from mmzoo.objectives._parts import check_label_smoothing
from mmzoo.objectives._text import TextMetric, TranscriptText, text_metrics, update_text_metrics

__all__ = ["SequenceCrossEntropyObjective"]


class SequenceCrossEntropyObjective(Objective):
    """Token-level cross-entropy of a decoder (attention-based sequence training).

    Scores the decoder's ``logits (B, L + 1, V + 1)`` against its ``targets (B, L + 1)``: each
    row's tokens then ``EOS``, padding ignored (see :func:`~mmzoo.contracts.teacher_forcing`).
    The loss is the mean over every real target token of the batch, so long transcripts weigh more
    than short ones. Rows without a transcript are left out. The metrics score the hypotheses the
    decoder's search found (``model.decoders.NAME.search``) against the target's texts.

    For joint CTC/attention training (Kim et al., 2017), pair it with a ``ctc`` objective on a ``ctc``
    head over the same encoder and give them the weights ``1 - λ`` and ``λ``.

    Args:
        head: name of the decoder in ``model.decoders`` whose logits are scored.
        target: name of the transcript target in the batch (the decoder's ``target``).
        label_smoothing: share of each target's probability spread over the other tokens, in ``[0, 1)``.
        alphabet: characters of ids ``1..V`` for the metrics' texts; ``null`` for the transcript
            default (lowercase a-z, space and apostrophe).
        tokenizer: instead of ``alphabet``: the tokenizer of a token-vocabulary transcript.
        metrics: ``cer`` and/or ``wer`` of the decoder's hypotheses, and ``slot_f1`` (micro F1 of
            exactly matching slots) for a target with inline slots.
        inline_slots: the target writes slots inline, ``[type value]`` (spoken language
            understanding): ``cer`` and ``wer`` compare the words with the slots unwrapped.
    """

    def __init__(
        self,
        head: str,
        target: str,
        heads: Mapping[str, Any] | None = None,
        label_smoothing: Annotated[float, Range(ge=0, lt=1)] = 0.1,
        alphabet: str | None = None,
        tokenizer: str | None = None,
        metrics: list[TextMetric] = ["cer", "wer"],  # noqa: B006 - read only
        inline_slots: bool = False,
    ) -> None:
        super().__init__()
        self.head = head
        self.target = target
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.text = TranscriptText(alphabet, tokenizer)
        self.metric_names = list(metrics)
        self.inline_slots = inline_slots
        if "slot_f1" in self.metric_names and not inline_slots:
            raise ValueError("the slot_f1 metric needs inline_slots: true (a target that writes [type value] slots)")
        decoder = (heads or {}).get(head)
        if decoder is not None and not isinstance(decoder, Decoder):
            raise ValueError(f"sequence_ce scores a decoder, but '{head}' is a {type(decoder).__name__}")
        if isinstance(decoder, Decoder) and decoder.vocab_size != self.text.vocab_size:
            what = f"tokenizer '{tokenizer}' has" if tokenizer else "the alphabet has"
            raise ValueError(
                f"decoder '{head}' has vocab_size {decoder.vocab_size} but {what} {self.text.vocab_size} tokens"
            )

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        output = outputs[self.head]
        logits: Tensor = output["logits"].float()
        targets: Tensor = output["targets"]
        # Mean over real tokens; a batch without any gives 0 with a gradient path (no device sync).
        losses = F.cross_entropy(
            logits.flatten(0, 1),
            targets.flatten(),
            ignore_index=IGNORE,
            label_smoothing=self.label_smoothing,
            reduction="none",
        )
        real = (targets.flatten() != IGNORE).float()
        return (losses * real).sum() / real.sum().clamp(min=1.0)

    def make_metrics(self) -> dict[str, Any]:
        return text_metrics(self.metric_names)

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        output = outputs[self.head]
        if "tokens" in output:
            hypotheses = self.text(output["tokens"])
            update_text_metrics(metrics, hypotheses, batch.targets[self.target], self.text, self.inline_slots)

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        generator = torch.Generator().manual_seed(0)
        vocab = self.text.vocab_size
        lengths = [1 + i % 4 for i in range(batch_size)]
        target = torch.full((batch_size, max(lengths)), -1, dtype=torch.long)
        for index, length in enumerate(lengths):
            target[index, :length] = torch.randint(1, vocab + 1, (length,), generator=generator)
        _, _, outputs = teacher_forcing(target, vocab)
        logits = torch.randn(batch_size, outputs.shape[1], vocab + 1, generator=generator).requires_grad_(True)
        hypotheses = torch.where(torch.rand(target.shape, generator=generator) < 0.8, target, target.clamp(max=1))
        output = {"logits": logits, "targets": outputs, "tokens": hypotheses, "scores": torch.zeros(batch_size)}
        return {self.head: output}, Batch(
            inputs={}, targets={self.target: target}, ids=[str(i) for i in range(batch_size)]
        )
