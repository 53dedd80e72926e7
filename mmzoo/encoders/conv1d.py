"""A 1-D convolutional encoder over feature frames (e.g. log-mel) or token embeddings."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import InputProjection
from mmzoo.ops.masking import masked_max, masked_mean

__all__ = ["Conv1dEncoder"]


class Conv1dEncoder(Encoder):
    """Stacked 1-D convolutions with residual connections, then masked pooling.

    Padded positions are zeroed before every convolution, so their values never reach real
    positions or the pooled vector. The sequence length is kept (``T' = T``).

    Args:
        dim: channels of every layer and width of the output.
        layers: number of convolution blocks.
        kernel_size: odd kernel width, in frames or tokens.
        dropout: dropout after each block.
        pool: ``mean`` or ``max`` over real positions.

    Inputs:
        values: ``(B, T, F)`` features or ``(B, T)`` token ids; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T, dim)``, ``mask (B, T)``, ``pooled (B, dim)``, and
        ``layers``: every block's output ``(B, T, dim)`` (before the final norm, zero at padded
        positions), input to output.
    """

    input_kinds = ("features", "tokens")

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 128,
        layers: PositiveInt = 2,
        kernel_size: PositiveInt = 5,
        dropout: Probability = 0.1,
        pool: Literal["mean", "max"] = "mean",
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the sequence length, got {kernel_size}")
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.dim = dim
        self.pool = pool
        self.input = InputProjection(input_spec, dim)
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2),
                nn.GELU(),
                nn.Dropout(dropout),
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The convolution blocks, input to output."""
        return list(self.convs)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        x = self.input(values)  # (B, T, D)
        gate = mask.unsqueeze(-1).to(x.dtype)
        x = (x * gate).transpose(1, 2)  # (B, D, T)
        channel_gate = gate.transpose(1, 2)
        hidden = []
        for block in self.convs:
            x = (x + block(x)) * channel_gate
            hidden.append(x.transpose(1, 2))
        seq = self.norm(x.transpose(1, 2)) * gate
        pooled = masked_mean(seq, mask) if self.pool == "mean" else masked_max(seq, mask)
        return Encoded(seq=seq, mask=mask, pooled=pooled, layers=tuple(hidden))
