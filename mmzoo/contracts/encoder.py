"""The encoder contract: one modality's padded values in, an :class:`~mmzoo.contracts.batch.Encoded` out."""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.contracts.batch import Encoded

__all__ = ["Encoder"]


class Encoder(nn.Module):
    """Base class of encoders.

    Subclasses set :attr:`dim` (the width ``D`` of ``seq`` and ``pooled``) and implement
    ``forward(values, mask) -> Encoded``. Padded positions must never change ``pooled``.
    :attr:`input_kinds` lists the :class:`ModalitySpec` kinds the encoder reads. Encoders built
    from repeated blocks should list them, input to output, in a ``blocks()`` method: the common
    options ``train_last`` and ``gradient_checkpointing`` use it.
    """

    dim: int
    input_kinds: tuple[str, ...] = ("features",)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:  # pragma: no cover - interface
        raise NotImplementedError
