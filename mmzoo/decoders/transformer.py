"""A Transformer decoder: causal self-attention, cross-attention to the memory, an MLP per layer."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt, Probability, Range
from mmzoo.contracts.decoder import Decoder, DecoderState
from mmzoo.decoders._tokens import memory_projection, sinusoid, token_embedding
from mmzoo.encoders._transformer import transformer_mlp
from mmzoo.ops.attention import attention, check_heads
from mmzoo.ops.text import DEFAULT_ALPHABET

__all__ = ["TransformerDecoder"]


def _split(x: Tensor, heads: int) -> Tensor:
    """``(N, L, dim) -> (N, heads, L, dim / heads)``."""
    n, length, dim = x.shape
    return x.view(n, length, heads, dim // heads).transpose(1, 2)


def _merge(x: Tensor) -> Tensor:
    """``(N, heads, L, head_dim) -> (N, L, heads * head_dim)``."""
    n, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(n, length, heads * head_dim)


class _Layer(nn.Module):
    """Pre-norm decoder layer: ``x + self_attn(norm(x))``, ``x + cross_attn(norm(x), memory)``,
    ``x + mlp(norm(x))``. Both attentions go through :func:`mmzoo.ops.attention.attention`."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.heads = check_heads(dim, heads)
        self.dropout = dropout
        self.norm_self, self.norm_cross, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.self_out = nn.Linear(dim, dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.cross_out = nn.Linear(dim, dim)
        self.mlp = transformer_mlp(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def memory_keys(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys and values of the projected memory ``(N, T, dim)``: each ``(N, H, T, dim / H)``."""
        k, v = self.kv(memory).chunk(2, dim=-1)
        return _split(k, self.heads), _split(v, self.heads)

    def forward(
        self,
        x: Tensor,
        memory_keys: tuple[Tensor, Tensor],
        memory_mask: Tensor,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One layer over inputs ``x (N, L, dim)``.

        Without ``past`` (teacher forcing) the self-attention is causal over the ``L`` inputs. With
        ``past``, the cached self-attention keys and values ``(N, H, P, dim / H)`` of the ``P``
        earlier positions, ``x`` holds the next position(s) and attends to all of them.

        Returns:
            ``(x (N, L, dim), (keys, values))``, the keys and values now ``(N, H, P + L, dim / H)``.
        """
        p = self.dropout if self.training else 0.0
        q, k, v = (_split(part, self.heads) for part in self.qkv(self.norm_self(x)).chunk(3, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        # Padded inputs always follow the real ones, so causal attention needs no key mask for them.
        mixed = attention(q, k, v, dropout_p=p, is_causal=past is None and x.shape[1] > 1)
        x = x + self.drop(self.self_out(_merge(mixed)))
        q = _split(self.q(self.norm_cross(x)), self.heads)
        mixed = attention(q, *memory_keys, key_padding_mask=memory_mask, dropout_p=p)
        x = x + self.drop(self.cross_out(_merge(mixed)))
        return x + self.drop(self.mlp(self.norm_mlp(x))), (k, v)


class TransformerDecoder(Decoder):
    """Transformer decoder (Vaswani et al., 2017) over an encoder's or the fusion's memory.

    Token embeddings plus sinusoidal positions, ``layers`` pre-norm layers of causal self-attention,
    cross-attention to the memory and an MLP, a final norm and a linear map to ``vocab_size + 1``
    logits. Decoding keeps a key/value cache: each step computes one position and attends to the
    cached keys of the earlier ones; the memory's cross-attention keys are computed once, in
    :meth:`start`. Attention runs through mmzoo's attention function, so the fused kernel applies
    where it can.

    Args:
        memory_dim: width of the memory (from the model: the encoder's or the fusion's ``dim``).
        vocab_size: number of transcript tokens (``28`` for the default alphabet).
        dim: model width.
        heads: attention heads (must divide ``dim``).
        layers: decoder layers.
        mlp_ratio: hidden width of each MLP, as a multiple of ``dim``.
        dropout: dropout on attention weights and after each sub-layer.
        memory_positions: add sinusoidal positions to the projected memory, so cross-attention
            can find where it is in an encoder output that carries no positions of its own (a
            convolutional encoder's, say); off for a memory that already has them.

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
        heads: PositiveInt = 4,
        layers: Annotated[int, Range(ge=1)] = 2,
        mlp_ratio: PositiveFloat = 4.0,
        dropout: Probability = 0.1,
        memory_positions: bool = True,
    ) -> None:
        super().__init__()
        check_heads(dim, heads)
        self.memory_positions = memory_positions
        self.vocab_size = vocab_size
        self.memory_dim = memory_dim
        self.dim = dim
        self.embed = token_embedding(vocab_size, dim)
        self.memory = memory_projection(memory_dim, dim)
        self.layers = nn.ModuleList(_Layer(dim, heads, mlp_ratio, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size + 1)
        self.drop = nn.Dropout(dropout)

    def _inputs(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """Embedded inputs ``(N, L, dim)`` of tokens ``(N, L)`` at integer positions ``(N, L)``."""
        scale = self.dim**0.5
        return self.drop(self.embed(tokens) * scale + sinusoid(positions, self.dim).to(self.embed.weight.dtype))

    def _memory(self, memory: Tensor) -> Tensor:
        """The projected memory ``(N, T, dim)``, with positions when ``memory_positions``."""
        projected = self.memory(memory)
        if self.memory_positions:
            positions = torch.arange(memory.shape[1], device=memory.device)
            projected = projected + sinusoid(positions, self.dim).to(projected.dtype)
        return projected

    def forward(self, memory: Tensor, memory_mask: Tensor, tokens: Tensor, token_mask: Tensor) -> Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
        x = self._inputs(tokens, positions)
        projected = self._memory(memory)
        for layer in self.layers:
            x, _ = layer(x, layer.memory_keys(projected), memory_mask)
        return self.out(self.norm(x))

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        projected = self._memory(memory)
        state: DecoderState = {
            "memory_mask": memory_mask,
            "position": torch.zeros(memory.shape[0], dtype=torch.long, device=memory.device),
        }
        for index, layer in enumerate(self.layers):
            state[f"memory_k{index}"], state[f"memory_v{index}"] = layer.memory_keys(projected)
            empty = projected.new_zeros(memory.shape[0], layer.heads, 0, self.dim // layer.heads)
            state[f"k{index}"], state[f"v{index}"] = empty, empty
        return state

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        position = state["position"]
        x = self._inputs(tokens[:, None], position[:, None])
        new = dict(state, position=position + 1)
        for index, layer in enumerate(self.layers):
            memory_keys = (state[f"memory_k{index}"], state[f"memory_v{index}"])
            x, (new[f"k{index}"], new[f"v{index}"]) = layer(
                x, memory_keys, state["memory_mask"], past=(state[f"k{index}"], state[f"v{index}"])
            )
        return self.out(self.norm(x))[:, 0], new
