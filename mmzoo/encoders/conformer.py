"""A Conformer encoder (torchaudio's) over feature frames such as log-mel spectrograms."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torchaudio.models import Conformer
from torchaudio.models.conformer import ConformerLayer

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import InputProjection
from mmzoo.encoders._sequence import masked_group_norm
from mmzoo.encoders._subsample import ConvSubsampling
from mmzoo.ops.attention import check_heads
from mmzoo.ops.masking import masked_max, masked_mean

__all__ = ["ConformerEncoder"]


class _MaskedConformerLayer(ConformerLayer):
    """torchaudio's ``ConformerLayer`` (same weights and names) with padding kept out of its convolution.

    torchaudio's layer convolves over padded frames too, so a row's result depends on what (and how
    much) padding follows it. This forward is the same computation, except that padded frames are
    zeroed before the depthwise convolution (like the convolution's own zero padding), group-norm
    statistics use real frames only, and rows without any real frame attend everywhere instead
    of producing NaN (their outputs are masked out by the encoder). Batch norm (the default) in
    training mode still computes its statistics over the whole padded batch, as torchaudio does.

    Inputs:
        input: ``(T, B, D)``; key_padding_mask: bool ``(B, T)``, ``True`` at *padded* frames
        (torchaudio's convention).
    Returns:
        ``(T, B, D)``.
    """

    def forward(self, input: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        if key_padding_mask is None:
            key_padding_mask = torch.zeros(input.shape[1], input.shape[0], dtype=torch.bool, device=input.device)
        real = ~key_padding_mask  # (B, T)
        attend_pad = key_padding_mask & real.any(dim=1, keepdim=True)  # empty rows: attend everywhere
        x = self.ffn1(input) * 0.5 + input
        if self.convolution_first:
            x = self._masked_convolution(x, real)
        residual = x
        x = self.self_attn_layer_norm(x)
        x, _ = self.self_attn(query=x, key=x, value=x, key_padding_mask=attend_pad, need_weights=False)
        x = self.self_attn_dropout(x) + residual
        if not self.convolution_first:
            x = self._masked_convolution(x, real)
        x = self.ffn2(x) * 0.5 + x
        return self.final_layer_norm(x)

    def _masked_convolution(self, x: Tensor, real: Tensor) -> Tensor:
        module = self.conv_module
        pointwise_in, glu, depthwise, norm, act, pointwise_out, drop = module.sequential
        y = module.layer_norm(x).permute(1, 2, 0)  # (B, D, T)
        y = glu(pointwise_in(y))
        y = depthwise(y * real.unsqueeze(1).to(y.dtype))
        y = masked_group_norm(y, real, norm) if isinstance(norm, nn.GroupNorm) else norm(y)
        y = drop(pointwise_out(act(y)))
        return x + y.permute(2, 0, 1)


class ConformerEncoder(Encoder):
    """torchaudio's Conformer over projected (optionally subsampled) frames, mask-exact.

    The input is projected to ``dim`` (a linear layer for features, an embedding for tokens),
    optionally shortened by stride-2 convolutions (``subsample``; a step is real when the input
    frame at its centre is real), then run through the layers of a ``torchaudio.models.Conformer``
    whose parameter names are unchanged (its state dict loads into torchaudio's class). The
    layers follow torchaudio's computation but keep padded frames out of the depthwise
    convolution, so a row encodes the same alone or in a padded batch; see
    ``_MaskedConformerLayer``. Its self-attention is ``nn.MultiheadAttention``: like ``hf_text``,
    one of the documented exceptions to :func:`mmzoo.ops.attention.attention`. Padded positions of
    ``seq`` are zero; rows without any real frame give zeros. ``blocks()`` lists the conformer
    layers.

    Args:
        dim: model width.
        layers: number of conformer layers.
        heads: attention heads per layer (``dim`` must be a multiple).
        ffn_dim: hidden width of the feed-forward modules.
        kernel_size: odd kernel size of the depthwise convolutions, in (subsampled) frames.
        dropout: dropout inside the layers and the front-end.
        subsample: time reduction before the layers (1, 2, 4, 8...).
        convolution_first: apply the convolution module before self-attention.
        use_group_norm: group norm (statistics over real frames) instead of batch norm in the
            convolution module.
        pool: ``mean`` or ``max`` over real positions.

    Inputs:
        values: float ``(B, T, F)`` feature frames (or long ``(B, T)`` token ids); mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T', dim)`` (``T' = ceil(T / subsample)``), ``mask (B, T')``,
        ``pooled (B, dim)``.
    """

    input_kinds = ("features", "tokens")

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 144,
        layers: PositiveInt = 4,
        heads: PositiveInt = 4,
        ffn_dim: PositiveInt = 576,
        kernel_size: PositiveInt = 31,
        dropout: Probability = 0.1,
        subsample: PositiveInt = 1,
        convolution_first: bool = False,
        use_group_norm: bool = False,
        pool: Literal["mean", "max"] = "mean",
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        check_heads(dim, heads)
        self.dim = dim
        self.pool = pool
        self.input = InputProjection(input_spec, dim)
        self.subsample = ConvSubsampling(dim, subsample, dropout)
        self.conformer = Conformer(
            input_dim=dim,
            num_heads=heads,
            ffn_dim=ffn_dim,
            num_layers=0,
            depthwise_conv_kernel_size=kernel_size,
            dropout=dropout,
            use_group_norm=use_group_norm,
            convolution_first=convolution_first,
        )
        self.conformer.conformer_layers = nn.ModuleList(
            _MaskedConformerLayer(
                dim,
                ffn_dim,
                heads,
                kernel_size,
                dropout=dropout,
                use_group_norm=use_group_norm,
                convolution_first=convolution_first,
            )
            for _ in range(layers)
        )

    def blocks(self) -> list[nn.Module]:
        """The conformer layers, input to output."""
        return list(self.conformer.conformer_layers)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        x, mask = self.subsample(self.input(values), mask)
        x = (x * mask.unsqueeze(-1).to(x.dtype)).transpose(0, 1)  # (T', B, D)
        padding = ~mask
        for layer in self.conformer.conformer_layers:
            x = layer(x, padding)
        x = x.transpose(0, 1)
        seq = x * mask.unsqueeze(-1).to(x.dtype)
        pooled = masked_mean(seq, mask) if self.pool == "mean" else masked_max(seq, mask)
        return Encoded(seq=seq, mask=mask, pooled=pooled)
