"""A bag-of-vectors baseline: project every position, then average over real positions."""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import InputProjection
from mmzoo.ops.masking import masked_mean

__all__ = ["BagEncoder"]


class BagEncoder(Encoder):
    """Order-free baseline: per-position projection and MLP, then the masked mean.

    Args:
        dim: output width.
        dropout: dropout inside the MLP.

    Inputs:
        values: ``(B, T, F)`` features or ``(B, T)`` token ids; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T, dim)``, ``mask (B, T)``, ``pooled (B, dim)``.
    """

    input_kinds = ("features", "tokens")

    def __init__(self, input_spec: ModalitySpec, dim: PositiveInt = 128, dropout: Probability = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.input = InputProjection(input_spec, dim)
        self.mlp = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        hidden = self.mlp(self.input(values))
        seq = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        return Encoded(seq=seq, mask=mask, pooled=masked_mean(seq, mask))
