"""A recurrent encoder over feature frames or token ids, correct for any padding mask."""

from __future__ import annotations

from typing import Literal

import torch
from mmzoo.constraints import PositiveInt
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["GruEncoder"]


def _input_layer(input_spec: ModalitySpec, dim: int) -> nn.Module:
    """An embedding for ``tokens`` or a linear projection for ``features``, to width ``dim``.

    Inputs:
        long ``(B, T)`` token ids, or float ``(B, T, feature_dim)`` frames.
    Returns:
        ``(B, T, dim)``.
    """
    if input_spec.kind == "tokens":
        if not input_spec.vocab_size:
            raise ValueError("template_gru: a 'tokens' input needs input_spec.vocab_size")
        return nn.Embedding(input_spec.vocab_size, dim, padding_idx=input_spec.pad_id)
    if input_spec.kind == "features":
        if not input_spec.feature_dim:
            raise ValueError("template_gru: a 'features' input needs input_spec.feature_dim")
        return nn.Linear(input_spec.feature_dim, dim)
    raise ValueError(f"template_gru reads 'tokens' or 'features' inputs, not '{input_spec.kind}'")


class GruEncoder(Encoder):
    """GRU over the real positions of each row, packed so that padding never reaches it.

    Real positions are gathered to the front of each row (keeping their order), the rows are packed
    with ``pack_padded_sequence`` and run through the GRU, and the outputs are put back where they
    came from. Padded positions of ``seq`` are zero; ``pooled`` depends on real positions only, and
    rows without any real position (a missing modality) get zeros. The sequence length is kept
    (``T' = T``).

    Args:
        dim: width of the input projection, of the GRU's hidden state and of the output.
        layers: number of stacked GRU layers.
        bidirectional: run a second GRU from the end of each row; both directions are concatenated
            and projected back to ``dim``.
        dropout: dropout between GRU layers (only used when ``layers > 1``).
        pool: ``last`` (final hidden state of the last layer, both directions) or ``mean`` (mean of
            ``seq`` over real positions).

    Inputs:
        values: float ``(B, T, feature_dim)`` frames or long ``(B, T)`` token ids; mask: bool
        ``(B, T)``, ``True`` at real positions (need not be a prefix).
    Returns:
        :class:`~mmzoo.contracts.Encoded` with ``seq (B, T, dim)``, ``mask (B, T)`` and
        ``pooled (B, dim)``.
    """

    input_kinds = ("features", "tokens")

    def __init__(
        self,
        input_spec: ModalitySpec,
        dim: int = 64,
        layers: PositiveInt = 1,  # a range: recipes with layers: 0 fail validation
        bidirectional: bool = True,
        dropout: float = 0.0,
        pool: Literal["last", "mean"] = "last",
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"template_gru: dim must be positive, got {dim}")
        if layers < 1:
            raise ValueError(f"template_gru: layers must be at least 1, got {layers}")
        if pool not in ("last", "mean"):
            raise ValueError(f"template_gru: pool must be 'last' or 'mean', got {pool!r}")
        self.dim = dim
        self.pool = pool
        self.directions = 2 if bidirectional else 1
        self.input = _input_layer(input_spec, dim)
        self.rnn = nn.GRU(
            dim,
            dim,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.output = nn.Linear(self.directions * dim, dim)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        batch, length = mask.shape
        width = self.directions * self.dim
        x = self.input(values)  # (B, T, dim)
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0).to(self.rnn.weight_ih_l0.dtype)

        # Real positions first, in their original order: a stable sort of "is padding".
        order = torch.argsort((~mask).to(torch.int32), dim=1, stable=True)  # (B, T)
        index = order.unsqueeze(-1).expand(-1, -1, self.dim)
        compact = x.gather(1, index)  # (B, T, dim)
        lengths = mask.sum(dim=1)  # (B,)
        rows = torch.nonzero(lengths > 0).squeeze(1)  # rows with at least one real position

        compact_out = x.new_zeros(batch, length, width)  # (B, T, dirs * dim)
        last = x.new_zeros(batch, width)  # (B, dirs * dim)
        if rows.numel() > 0:
            packed = pack_padded_sequence(
                compact.index_select(0, rows),
                lengths.index_select(0, rows).cpu(),
                batch_first=True,
                enforce_sorted=False,
            )
            out, hidden = self.rnn(packed)  # hidden: (layers * dirs, R, dim)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)  # (R, T, dirs * dim)
            final = hidden[-self.directions :].transpose(0, 1).reshape(rows.numel(), width)  # (R, dirs * dim)
            compact_out = compact_out.index_copy(0, rows, out.to(compact_out.dtype))
            last = last.index_copy(0, rows, final.to(last.dtype))

        # Put each output back at the position its input came from.
        restored = torch.zeros_like(compact_out).scatter(1, order.unsqueeze(-1).expand(-1, -1, width), compact_out)
        gate = mask.unsqueeze(-1).to(restored.dtype)  # (B, T, 1)
        seq = self.output(restored) * gate  # (B, T, dim)
        has_any = (lengths > 0).unsqueeze(-1).to(seq.dtype)  # (B, 1)
        if self.pool == "last":
            pooled = self.output(last) * has_any
        else:
            pooled = seq.sum(dim=1) / gate.sum(dim=1).clamp_min(1.0)
        return Encoded(seq=seq, mask=mask, pooled=pooled)
