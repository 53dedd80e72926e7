"""A tiny vision transformer for small images (32-64 px) that trains on a CPU in seconds."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._image import encode_present_images
from mmzoo.encoders._input import expect_input_kind
from mmzoo.encoders._transformer import TransformerBlock, sinusoidal_positions_2d

__all__ = ["SmallViTEncoder"]


class SmallViTEncoder(Encoder):
    """A small ViT: patch embedding, 2-D sine/cosine positions, a ``[CLS]`` token, pre-norm blocks.

    Built from mmzoo's own transformer block, so its attention goes through
    :func:`mmzoo.ops.attention.attention`. Positions are computed for the patch grid of each
    batch, so any image size divisible by ``patch_size`` works. ``seq`` holds the patch tokens
    (row-major), ``pooled`` the ``[CLS]`` output. Rows whose image mask is ``False`` never reach
    the network and get zeros.

    Args:
        dim: token width.
        depth: number of transformer blocks.
        heads: attention heads (``dim`` must be a multiple).
        patch_size: side of the square patches, in pixels.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in the blocks.

    Inputs:
        values: float ``(B, C, H, W)``; mask: bool ``(B, 1)``.
    Returns:
        :class:`Encoded` with ``seq (B, H * W / patch_size ** 2, dim)``, its mask, ``pooled (B, dim)``.
    """

    input_kinds = ("image",)

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 64,
        depth: PositiveInt = 2,
        heads: PositiveInt = 2,
        patch_size: PositiveInt = 8,
        mlp_ratio: PositiveFloat = 2.0,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        expect_input_kind("small_vit", input_spec, "image")
        self.dim = dim
        self.patch_size = patch_size
        self.patch = nn.Conv2d(input_spec.channels or 3, dim, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.layers = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks, input to output."""
        return list(self.layers)

    def _run(self, images: Tensor) -> tuple[Tensor, Tensor]:
        height, width = images.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"image size {height}x{width} is not a multiple of patch_size={self.patch_size}")
        x = self.patch(images)  # (N, dim, H/p, W/p)
        grid = sinusoidal_positions_2d(x.shape[2], x.shape[3], self.dim, x.device)
        x = x.flatten(2).transpose(1, 2) + grid.to(x.dtype)  # (N, P, dim)
        x = torch.cat([self.cls.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.layers:
            x = block(x, None)
        x = self.norm(x)
        return x[:, 1:], x[:, 0]

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        return encode_present_images(self, self._run, values, mask)
