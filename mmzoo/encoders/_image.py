"""Run an image model on the rows that have an image; rows without one get zeros."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from mmzoo.contracts import Encoded

__all__ = ["encode_present_images"]


def encode_present_images(
    module: nn.Module,
    run: Callable[[Tensor], tuple[Tensor, Tensor]],
    values: Tensor,
    mask: Tensor,
) -> Encoded:
    """Encode only the rows whose image mask is ``True``.

    Rows without an image never enter ``run`` (so their pixels cannot change anything, batch norm
    statistics included); their ``seq`` and ``pooled`` are zeros and their ``mask`` is all
    ``False``. When no row has an image, ``run`` sees one blank image in eval mode without
    gradients, only to learn the sequence shape.

    Inputs:
        values: ``(B, C, H, W)``; mask: bool ``(B, 1)``.
        run: images ``(N, C, H, W)`` -> ``seq (N, T', D)``, ``pooled (N, D)``.
    Returns:
        :class:`Encoded` with ``seq (B, T', D)``, ``mask (B, T')``, ``pooled (B, D)``.
    """
    present = mask.reshape(mask.shape[0], -1).any(dim=1)  # (B,)
    batch = values.shape[0]
    if bool(present.all()):
        seq, pooled = run(values)
    elif bool(present.any()):
        rows = present.nonzero().squeeze(1)
        part_seq, part_pooled = run(values.index_select(0, rows))
        seq = part_seq.new_zeros(batch, *part_seq.shape[1:]).index_copy(0, rows, part_seq)
        pooled = part_pooled.new_zeros(batch, *part_pooled.shape[1:]).index_copy(0, rows, part_pooled)
    else:
        training = module.training
        module.eval()
        try:
            with torch.no_grad():
                blank_seq, blank_pooled = run(torch.zeros_like(values[:1]))
        finally:
            module.train(training)
        seq = blank_seq.new_zeros(batch, *blank_seq.shape[1:])
        pooled = blank_pooled.new_zeros(batch, *blank_pooled.shape[1:])
    seq_mask = present.unsqueeze(1).expand(batch, seq.shape[1])
    return Encoded(seq=seq, mask=seq_mask, pooled=pooled)
