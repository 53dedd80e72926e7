"""A recurrent (LSTM or GRU) encoder that runs over packed real positions only."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import InputProjection
from mmzoo.encoders._sequence import compact, compact_order, restore
from mmzoo.ops.masking import masked_max, masked_mean

__all__ = ["RNNEncoder"]


class _RecurrentLayer(nn.Module):
    """Dropout on the input, then one single-layer (bi)directional LSTM/GRU over a packed batch.

    Inputs/Returns:
        a :class:`PackedSequence` of width ``dim`` in, one of width ``dim`` out.
    """

    def __init__(self, cell: str, dim: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        hidden = dim // 2 if bidirectional else dim
        rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_class(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout)

    def forward(self, packed: PackedSequence) -> PackedSequence:
        data = self.drop(packed.data).to(self.rnn.weight_ih_l0.dtype)
        dropped = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        out, _ = self.rnn(dropped)
        return out


class RNNEncoder(Encoder):
    """Stacked LSTM or GRU layers over the real positions of each row, for any padding mask.

    The real positions of every row are moved to its front (keeping their order) and packed with
    ``pack_padded_sequence``, so padding never enters the recurrence and the mask need not be a
    prefix; outputs go back to the positions they came from (``T' = T``). Padded positions of
    ``seq`` are zero. Rows without any real position give zeros. Each layer is a separate
    single-layer RNN, listed by ``blocks()`` (so ``train_last`` can train the top layers only).

    Args:
        dim: width of the input projection, of every layer's output and of ``seq``/``pooled``
            (each direction has ``dim / 2`` units when bidirectional, so ``dim`` must be even).
        layers: number of stacked recurrent layers.
        cell: ``lstm`` or ``gru``.
        bidirectional: also read each row from its end.
        dropout: dropout on the input of every layer.
        pool: ``mean`` or ``max`` over real positions, or ``last`` (the forward direction at the
            last real position, with the backward direction at the first).

    Inputs:
        values: ``(B, T, F)`` features or ``(B, T)`` token ids; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T, dim)``, ``mask (B, T)``, ``pooled (B, dim)``.
    """

    input_kinds = ("features", "tokens")

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: PositiveInt = 128,
        layers: PositiveInt = 1,
        cell: Literal["lstm", "gru"] = "lstm",
        bidirectional: bool = True,
        dropout: Probability = 0.0,
        pool: Literal["mean", "max", "last"] = "mean",
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if pool not in ("mean", "max", "last"):
            raise ValueError(f"pool must be 'mean', 'max' or 'last', got {pool!r}")
        if bidirectional and dim % 2:
            raise ValueError(f"a bidirectional RNN splits dim between directions: dim must be even, got {dim}")
        self.dim = dim
        self.pool = pool
        self.bidirectional = bidirectional
        self.input = InputProjection(input_spec, dim)
        self.layers = nn.ModuleList(_RecurrentLayer(cell, dim, bidirectional, dropout) for _ in range(layers))

    def blocks(self) -> list[nn.Module]:
        """The recurrent layers, input to output."""
        return list(self.layers)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        batch, length = mask.shape
        order = compact_order(mask)  # (B, T): real positions first
        x = compact(self.input(values), order)  # (B, T, dim)
        lengths = mask.sum(dim=1)  # (B,)
        # pack_padded_sequence needs at least one step per row: an empty row reads one padded
        # step, whose output is masked out below.
        packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        for layer in self.layers:
            packed = layer(packed)
        out, _ = pad_packed_sequence(packed, batch_first=True, total_length=length)  # (B, T, dim), compacted
        compact_mask = torch.arange(length, device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
        out = out * compact_mask.unsqueeze(-1).to(out.dtype)
        seq = restore(out, order)
        if self.pool == "mean":
            pooled = masked_mean(seq, mask)
        elif self.pool == "max":
            pooled = masked_max(seq, mask)
        else:
            pooled = self._last(out, lengths)
        return Encoded(seq=seq, mask=mask, pooled=pooled)

    def _last(self, out: Tensor, lengths: Tensor) -> Tensor:
        """Forward direction at the last real step, backward direction at the first (compacted)."""
        last = (lengths - 1).clamp_min(0)[:, None, None].expand(-1, 1, out.shape[-1])
        at_last = out.gather(1, last).squeeze(1)  # (B, dim)
        if self.bidirectional:
            half = self.dim // 2
            at_last = torch.cat([at_last[:, :half], out[:, 0, half:]], dim=-1)
        return at_last * (lengths > 0).unsqueeze(-1).to(at_last.dtype)
