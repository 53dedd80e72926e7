"""Masked language modelling: hide some tokens of a text modality and predict them."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.constraints import NonNegativeInt, Range
from mmzoo.contracts import Batch, ModalityInput, ModalitySpec, Objective

__all__ = ["MaskedLanguageModeling", "mask_tokens"]


def mask_tokens(
    tokens: Tensor,
    real: Tensor,
    *,
    mask_prob: float,
    mask_id: int,
    vocab_size: int,
    pad_id: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT-style corruption (Devlin et al. 2019) of real positions.

    Each real token is chosen with probability ``mask_prob`` (at least one per row that has one);
    a chosen token becomes ``mask_id`` 80 % of the time, a random non-padding token 10 %, and stays
    10 %.

    Inputs:
        tokens: long ``(B, T)``; real: bool ``(B, T)``.
    Returns:
        ``(corrupted (B, T), labels (B, T))`` with labels ``-100`` where nothing is predicted.
    """
    device = tokens.device
    draw = torch.rand(tokens.shape, generator=generator).to(device)
    chosen = (draw < mask_prob) & real
    # make sure every row with a real token predicts at least one (its lowest draw)
    lowest = draw.masked_fill(~real, 2.0).argmin(dim=1)
    needs = real.any(dim=1) & ~chosen.any(dim=1)
    chosen[needs, lowest[needs]] = True
    labels = torch.where(chosen, tokens, torch.full_like(tokens, -100))
    action = torch.rand(tokens.shape, generator=generator).to(device)
    random_tokens = torch.randint(0, vocab_size - 1, tokens.shape, generator=generator).to(device)
    random_tokens = random_tokens + (random_tokens >= pad_id).long()  # never the padding id
    corrupted = torch.where(chosen & (action < 0.8), torch.full_like(tokens, mask_id), tokens)
    corrupted = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_tokens, corrupted)
    return corrupted, labels


class MaskedLanguageModeling(Objective):
    """Masked language modelling: predict hidden tokens of a text modality from the model's output.

    Tokens of ``modality`` are corrupted BERT-style (Devlin et al. 2019) in an extra pass of the
    model (the main pass and the other objectives see the text unchanged), and a ``token_logits``
    head scores the hidden positions. Validation batches are masked with a generator seeded by
    their row ids, so the validation loss is comparable between epochs.

    Args:
        head: a ``token_logits`` head reading ``modality``.
        modality: the token modality to mask.
        mask_prob: fraction of real tokens to predict, in ``(0, 1)``.
        mask_id: the id written at masked positions; by default the last id of the vocabulary
            (for the byte-level ByT5 vocabulary, an unused extra id).
    """

    def __init__(
        self,
        head: str,
        modality: str = "text",
        mask_prob: Annotated[float, Range(gt=0, lt=1)] = 0.15,
        mask_id: NonNegativeInt | None = None,
        heads: Mapping[str, Any] | None = None,
        input_specs: Mapping[str, ModalitySpec] | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        spec = (input_specs or {}).get(modality)
        if spec is not None and spec.kind != "tokens":
            raise ValueError(f"modality '{modality}' holds {spec.kind}, not tokens")
        head_module = (heads or {}).get(head)
        self.vocab_size = getattr(head_module, "vocab_size", None) or (spec.vocab_size if spec else None) or 2
        self.pad_id = spec.pad_id if spec is not None else 0
        self.mask_id = self.vocab_size - 1 if mask_id is None else mask_id
        self.head = head
        self.modality = modality
        self.mask_prob = mask_prob

    def extra_forward(self, batch: Batch, model: Any) -> dict[str, Tensor]:
        tokens, real = batch.inputs[self.modality]
        generator = None
        if not self.training:
            generator = torch.Generator().manual_seed(zlib.crc32("|".join(batch.ids).encode()))
        corrupted, labels = mask_tokens(
            tokens,
            real,
            mask_prob=self.mask_prob,
            mask_id=self.mask_id,
            vocab_size=self.vocab_size,
            pad_id=self.pad_id,
            generator=generator,
        )
        masked = Batch(
            inputs={**batch.inputs, self.modality: ModalityInput(corrupted, real)}, targets=batch.targets, ids=batch.ids
        )
        outputs, _, _ = model(masked, heads=[self.head])
        return {"logits": outputs[self.head], "labels": labels}

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> Tensor:
        extra = outputs["_extra"]
        logits = extra["logits"].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), extra["labels"].reshape(-1), ignore_index=-100)

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics.classification import MulticlassAccuracy

        return {"accuracy": MulticlassAccuracy(self.vocab_size, average="micro", ignore_index=-100)}

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        extra = outputs["_extra"]
        logits = extra["logits"].detach()
        metrics.update(logits.reshape(-1, logits.shape[-1]), extra["labels"].reshape(-1))

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        generator = torch.Generator().manual_seed(0)
        logits = torch.randn(batch_size, 7, self.vocab_size, generator=generator).requires_grad_(True)
        labels = torch.randint(0, self.vocab_size, (batch_size, 7), generator=generator)
        labels[:, ::2] = -100
        outputs = {self.head: logits.detach(), "_extra": {"logits": logits, "labels": labels}}
        return outputs, Batch(inputs={}, targets={}, ids=[str(i) for i in range(batch_size)])
