"""A strided 1-D convolution front-end that shortens a sequence (e.g. 100 Hz log-mel to 25 Hz)."""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.encoders._sequence import strided_mask

__all__ = ["ConvSubsampling"]


class ConvSubsampling(nn.Module):
    """Stride-2 convolutions (kernel 3, "same" padding), one per halving of the length.

    Padded frames are zeroed before every convolution, so they act like the convolution's own
    zero padding: real output steps never depend on padded values. The output mask follows
    :func:`~mmzoo.encoders._sequence.strided_mask` (a step is real when the frame at its centre
    is), so a row gives the same result alone or inside a padded batch.

    Args:
        dim: channels in and out.
        factor: total time reduction, a power of two (``1`` is the identity).
        dropout: dropout after each convolution.

    Inputs:
        x: ``(B, T, dim)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, ceil(T / factor), dim)`` and its bool mask.
    """

    def __init__(self, dim: int, factor: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if factor < 1 or factor & (factor - 1):
            raise ValueError(f"subsample must be a power of two (1, 2, 4, 8...), got {factor}")
        self.factor = factor
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, 3, stride=2, padding=1), nn.GELU(), nn.Dropout(dropout))
            for _ in range(factor.bit_length() - 1)
        )

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = x.transpose(1, 2)  # (B, D, T)
        for conv in self.convs:
            x = conv(x * mask.unsqueeze(1).to(x.dtype))
            mask = strided_mask(mask, 2)
        return x.transpose(1, 2), mask
