"""A tiny residual CNN for small images (32-64 px) that trains on a CPU in seconds."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._image import encode_present_images
from mmzoo.encoders._input import expect_input_kind

__all__ = ["SmallCNNEncoder"]


class _ResidualStage(nn.Module):
    """Two 3x3 conv-BN layers with a (strided) shortcut, then ReLU.

    Inputs:
        ``(B, C_in, H, W)``.
    Returns:
        ``(B, C_out, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class SmallCNNEncoder(Encoder):
    """A small ResNet-style CNN: a 3x3 stem, then one residual stage per entry of ``channels``.

    The first stage keeps the resolution, every later one halves it, so a 32 px image gives an
    8 x 8 map with the default three stages. ``seq`` is that map flattened to ``(B, H * W, C)``,
    ``pooled`` its average. Rows whose image mask is ``False`` never reach the network (not even
    its batch-norm statistics) and get zeros.

    Args:
        channels: channels of each residual stage; the last one is the output width.
        dropout: dropout on ``pooled``.

    Inputs:
        values: float ``(B, C, H, W)``; mask: bool ``(B, 1)``.
    Returns:
        :class:`Encoded` with ``seq (B, H' * W', dim)``, ``mask (B, H' * W')``, ``pooled (B, dim)``.
    """

    input_kinds = ("image",)

    def __init__(
        self, input_spec: ModalitySpec, channels: Sequence[PositiveInt] = (16, 32, 64), dropout: Probability = 0.0
    ) -> None:
        super().__init__()
        expect_input_kind("small_cnn", input_spec, "image")
        if not channels:
            raise ValueError("channels must list at least one stage")
        self.dim = int(channels[-1])
        self.stem = nn.Sequential(
            nn.Conv2d(input_spec.channels or 3, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_channels = channels[0]
        for index, out_channels in enumerate(channels):
            stages.append(_ResidualStage(in_channels, out_channels, stride=1 if index == 0 else 2))
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.drop = nn.Dropout(dropout)

    def blocks(self) -> list[nn.Module]:
        """The residual stages, input to output."""
        return list(self.stages)

    def _run(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(images)
        for stage in self.stages:
            x = stage(x)
        seq = x.flatten(2).transpose(1, 2)  # (N, H * W, C)
        return seq, self.drop(seq.mean(dim=1))

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        return encode_present_images(self, self._run, values, mask)
