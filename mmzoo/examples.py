"""Example inputs made from declared specs: what the contract kit and the build check feed components.

A :class:`~mmzoo.contracts.ModalitySpec` says what a datamodule delivers for one modality; from it
these functions make a padded random batch of that modality, so a component can be run before any
data is read (``mmzoo.testing`` checks components with them, and ``mmzoo recipe check --build``
runs a whole model on them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmzoo.contracts import ModalityInput, ModalitySpec

__all__ = ["example_modality_input", "lengths_mask"]


def lengths_mask(lengths: list[int]) -> Tensor:
    """bool ``(B, max(lengths))``: ``True`` at the first ``lengths[b]`` positions of row ``b``."""
    return torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def example_modality_input(spec: ModalitySpec, lengths: list[int], generator: torch.Generator) -> ModalityInput:
    """A padded random input for ``spec`` with the given real lengths per row (padding is garbage).

    For images, ``lengths`` says which rows have an image (``> 0``): the mask is ``(B, 1)`` and
    rows without one hold random pixels too. Images are ``spec.channels x spec.image_size``
    (default ``3 x 32 x 32``).

    Raises:
        ValueError: the spec cannot make a batch (``text`` before tokenization, tokens without
            ``vocab_size``).
    """
    if spec.kind == "image":
        mask = (torch.tensor(lengths) > 0).unsqueeze(1)  # (B, 1)
        height, width = spec.image_size or (32, 32)
        values = torch.randn(len(lengths), spec.channels or 3, height, width, generator=generator)
        return ModalityInput(values, mask)
    mask = lengths_mask(lengths)
    batch, longest = mask.shape
    if spec.kind == "tokens":
        if not spec.vocab_size:
            raise ValueError("a tokens modality needs its vocab_size to make an example input")
        values = torch.randint(1, spec.vocab_size, (batch, longest), generator=generator)
        values = torch.where(mask, values, torch.full_like(values, spec.pad_id))
    elif spec.kind == "features":
        values = torch.randn(batch, longest, spec.feature_dim or 1, generator=generator)
    elif spec.kind == "waveform":
        values = 0.1 * torch.randn(batch, longest, generator=generator)
    else:  # raw text is tokenized by a transform before it reaches a batch
        raise ValueError(f"no example input for kind '{spec.kind}': tokenize text with a transform first")
    return ModalityInput(values, mask)
