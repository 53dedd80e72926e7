"""Shared inputs and checks for the encoder tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmzoo.contracts import Encoded, ModalityInput, ModalitySpec
from mmzoo.plugins import load_registry
from mmzoo.testing.contracts import example_modality_input

FEATURES = ModalitySpec(kind="features", feature_dim=12)
TOKENS = ModalitySpec(kind="tokens", vocab_size=50, pad_id=0)
WAVEFORM = ModalitySpec(kind="waveform", sample_rate=16000)
IMAGE = ModalitySpec(kind="image", channels=3, image_size=(32, 32))

_REGISTRY = load_registry(warn=False)


def build(name: str, spec: ModalitySpec, seed: int = 0, **options: Any) -> nn.Module:
    """A registered encoder, built the way a recipe builds it, under a fixed seed."""
    torch.manual_seed(seed)
    return _REGISTRY.get("encoder", name).build(options, {"input_spec": spec})


def inputs(spec: ModalitySpec, lengths: list[int], seed: int = 0) -> ModalityInput:
    """Random padded input (garbage in the padding) with these real lengths."""
    return example_modality_input(spec, lengths, torch.Generator().manual_seed(seed))


def assert_rows_match_alone(encoder: nn.Module, values: Tensor, mask: Tensor, atol: float = 1e-5) -> Encoded:
    """Every row encoded inside the padded batch equals the row encoded alone, without padding."""
    out = encoder(values, mask)
    for row in range(values.shape[0]):
        length = int(mask[row].sum())
        if length == 0:
            continue
        alone = encoder(values[row : row + 1, :length], mask[row : row + 1, :length])
        steps = int(alone.mask.sum())
        assert int(out.mask[row].sum()) == steps, f"row {row}: {int(out.mask[row].sum())} real steps, alone {steps}"
        torch.testing.assert_close(out.seq[row, :steps], alone.seq[0, :steps], atol=atol, rtol=1e-4)
        torch.testing.assert_close(out.pooled[row], alone.pooled[0], atol=atol, rtol=1e-4)
    return out


def gradients(encoder: nn.Module, values: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Parameter gradients of a simple loss, in training mode."""
    encoder.train()
    encoder.zero_grad()
    out = encoder(values, mask)
    (out.pooled.square().sum() + out.seq.square().sum()).backward()
    return {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}


def trainable(encoder: nn.Module) -> set[str]:
    return {name for name, p in encoder.named_parameters() if p.requires_grad}
