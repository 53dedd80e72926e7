"""An LSTM decoder with additive (Bahdanau) or location-aware (Chorowski) attention."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability, Range
from mmzoo.contracts.decoder import Decoder, DecoderState
from mmzoo.decoders._tokens import memory_projection, token_embedding
from mmzoo.ops.text import DEFAULT_ALPHABET

__all__ = ["LSTMDecoder"]


class LSTMDecoder(Decoder):
    """LSTM decoder with attention over the memory, one step per token.

    At each step the LSTM reads the previous token's embedding and the previous context vector
    ("input feeding"); its top state ``s`` scores every memory frame ``h_j`` with
    ``w · tanh(W s + V h_j + U f_j)``, where ``f_j`` is empty for ``additive`` attention (Bahdanau
    et al., 2015) and, for ``location`` attention (Chorowski et al., 2015), the previous step's
    attention weights convolved around frame ``j``. Padded frames get no weight. The softmax of the
    scores weights the frames into the context ``c``, and ``tanh(O [s; c])`` gives the logits.
    Teacher forcing runs the same step over the target, so both paths agree exactly.

    Args:
        memory_dim: width of the memory (from the model).
        vocab_size: number of transcript tokens (``28`` for the default alphabet).
        dim: embedding, LSTM and attention width.
        layers: stacked LSTM layers.
        attention: ``additive`` or ``location``.
        location_channels: channels of the location features (``location`` only).
        location_kernel: width of the convolution over the previous weights, odd (``location`` only).
        dropout: dropout on the embeddings and before the output layer.

    Inputs:
        memory ``(B, T, memory_dim)`` with bool ``memory_mask (B, T)``; tokens ``(B, L)`` with bool
        ``token_mask (B, L)`` (see :class:`~mmzoo.contracts.Decoder`).
    Returns:
        logits ``(B, L, vocab_size + 1)``.
    """

    def __init__(
        self,
        memory_dim: int,
        vocab_size: PositiveInt = len(DEFAULT_ALPHABET),  # noqa: B008 - an int, computed once
        dim: PositiveInt = 128,
        layers: Annotated[int, Range(ge=1)] = 1,
        attention: Literal["additive", "location"] = "location",
        location_channels: PositiveInt = 8,
        location_kernel: PositiveInt = 15,
        dropout: Probability = 0.1,
    ) -> None:
        super().__init__()
        if attention not in ("additive", "location"):
            raise ValueError(f"attention must be 'additive' or 'location', got {attention!r}")
        if location_kernel % 2 == 0:
            raise ValueError(f"location_kernel must be odd, got {location_kernel}")
        self.vocab_size = vocab_size
        self.memory_dim = memory_dim
        self.dim = dim
        self.attention = attention
        self.embed = token_embedding(vocab_size, dim)
        self.values = memory_projection(memory_dim, dim)
        self.keys = nn.Linear(dim, dim, bias=False)
        self.query = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)
        if attention == "location":
            self.location = nn.Conv1d(1, location_channels, location_kernel, padding=location_kernel // 2, bias=False)
            self.location_proj = nn.Linear(location_channels, dim, bias=False)
        self.cells = nn.ModuleList(nn.LSTMCell(2 * dim if i == 0 else dim, dim) for i in range(layers))
        self.combine = nn.Linear(2 * dim, dim)
        self.out = nn.Linear(dim, vocab_size + 1)
        self.drop = nn.Dropout(dropout)

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        values = self.values(memory)  # (N, T, dim)
        rows, layers = memory.shape[0], len(self.cells)
        zeros = values.new_zeros(rows, layers, self.dim)
        # The first step's "previous weights": uniform over the real frames.
        weights = memory_mask.to(values.dtype) / memory_mask.sum(dim=1, keepdim=True).clamp(min=1).to(values.dtype)
        return {
            "values": values,
            "keys": self.keys(values),
            "memory_mask": memory_mask,
            "h": zeros,
            "c": zeros,
            "context": values.new_zeros(rows, self.dim),
            "weights": weights,
        }

    def _attend(self, top: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Context ``(N, dim)`` and weights ``(N, T)`` for the LSTM's top state ``top (N, dim)``."""
        energy = state["keys"] + self.query(top)[:, None, :]
        if self.attention == "location":
            features = self.location(state["weights"][:, None, :]).transpose(1, 2)  # (N, T, channels)
            energy = energy + self.location_proj(features)
        scores = self.score(torch.tanh(energy)).squeeze(-1).float()  # (N, T)
        scores = scores.masked_fill(~state["memory_mask"], float("-inf"))
        weights = torch.nan_to_num(scores.softmax(dim=-1), nan=0.0).to(top.dtype)  # a row without frames: zeros
        return torch.bmm(weights[:, None, :], state["values"]).squeeze(1), weights

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        x = torch.cat([self.drop(self.embed(tokens)), state["context"]], dim=-1)
        hs, cs = [], []
        for index, cell in enumerate(self.cells):
            h, c = cell(x, (state["h"][:, index], state["c"][:, index]))
            hs.append(h)
            cs.append(c)
            x = h
        context, weights = self._attend(x, state)
        logits = self.out(self.drop(torch.tanh(self.combine(torch.cat([x, context], dim=-1)))))
        new = dict(state, h=torch.stack(hs, dim=1), c=torch.stack(cs, dim=1), context=context, weights=weights)
        return logits, new

    def forward(self, memory: Tensor, memory_mask: Tensor, tokens: Tensor, token_mask: Tensor) -> Tensor:
        state = self.start(memory, memory_mask)
        logits = []
        for position in range(tokens.shape[1]):
            step_logits, state = self.step(tokens[:, position], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)
