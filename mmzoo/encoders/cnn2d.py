"""A 2-D convolutional encoder over (time, frequency) feature maps such as log-mel spectrograms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._sequence import strided_mask
from mmzoo.ops.masking import masked_max, masked_mean

__all__ = ["CNN2dEncoder"]


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, T, F)`` map, at every (time, frequency) cell."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _ConvBlock(nn.Module):
    """Zero padded frames, strided 2-D convolution, channel norm, GELU, dropout.

    Inputs:
        x: ``(B, C_in, T, F)``; mask: bool ``(B, T)``.
    Returns:
        ``(B, C_out, T', F')`` and its mask ``(B, T')``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, time_stride: int, freq_stride: int, dropout: float
    ) -> None:
        super().__init__()
        self.time_stride = time_stride
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=(time_stride, freq_stride), padding=kernel_size // 2
        )
        self.norm = _ChannelNorm(out_channels)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = self.conv(x * mask[:, None, :, None].to(x.dtype))
        return self.drop(self.act(self.norm(x))), strided_mask(mask, self.time_stride)


class CNN2dEncoder(Encoder):
    """Stacked 2-D convolutions over (time, frequency), then a projection of each time step.

    Each block zeroes padded frames, then convolves with stride ``(time_stride, freq_stride)`` and
    "same" padding (odd kernel). Output mask rule: a time step is real when the input frame at its
    centre is real; for right padding that is ``ceil(T / time_stride)`` steps per block, exactly
    what the convolution gives an unpadded row, so a row encodes the same alone or in a padded
    batch, and padded values never reach real steps or ``pooled``. Rows without any real frame
    give zeros.

    Args:
        dim: output width (each time step's channels x frequencies are projected to it).
        channels: output channels of each convolution block.
        kernel_size: odd kernel size (time and frequency).
        time_stride: time stride of every block (``T' = T / time_stride ** len(channels)``).
        freq_stride: frequency stride of every block.
        dropout: dropout after each block and after the projection.
        pool: ``mean`` or ``max`` over real time steps.

    Inputs:
        values: float ``(B, T, F)`` feature frames; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T', dim)``, ``mask (B, T')``, ``pooled (B, dim)``.
    """

    input_kinds = ("features",)

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 128,
        channels: Sequence[PositiveInt] = (32, 32),
        kernel_size: PositiveInt = 3,
        time_stride: PositiveInt = 2,
        freq_stride: PositiveInt = 2,
        dropout: Probability = 0.1,
        pool: Literal["mean", "max"] = "mean",
    ) -> None:
        super().__init__()
        if input_spec.kind != "features" or not input_spec.feature_dim:
            raise ValueError("cnn2d reads 'features' inputs with a feature_dim")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if not channels:
            raise ValueError("channels must list at least one block")
        if min(time_stride, freq_stride) < 1 or max(time_stride, freq_stride) > kernel_size:
            raise ValueError("strides must be between 1 and kernel_size (so that every frame is read)")
        self.dim = dim
        self.pool = pool
        convs = []
        in_channels, freqs = 1, input_spec.feature_dim
        for out_channels in channels:
            convs.append(_ConvBlock(in_channels, out_channels, kernel_size, time_stride, freq_stride, dropout))
            in_channels, freqs = out_channels, -(-freqs // freq_stride)
        self.convs = nn.ModuleList(convs)
        self.proj = nn.Linear(in_channels * freqs, dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The convolution blocks, input to output."""
        return list(self.convs)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        x = values.unsqueeze(1)  # (B, 1, T, F)
        for block in self.convs:
            x, mask = block(x, mask)
        batch, channels, steps, freqs = x.shape
        x = x.permute(0, 2, 1, 3).reshape(batch, steps, channels * freqs)
        x = self.norm(self.drop(self.proj(x)))
        seq = x * mask.unsqueeze(-1).to(x.dtype)
        pooled = masked_mean(seq, mask) if self.pool == "mean" else masked_max(seq, mask)
        return Encoded(seq=seq, mask=mask, pooled=pooled)
