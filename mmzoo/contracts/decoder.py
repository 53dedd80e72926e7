"""The decoder contract: a token sequence generated from an encoder's or the fusion's memory.

Token ids are shared with the transcript targets and the CTC objective: ``1..vocab_size`` are the
transcript's characters or tokens. The decoder adds two: :data:`EOS` (``0``, the id CTC uses for
its blank, which a decoder never emits otherwise) ends a sequence, and ``vocab_size + 1``
(:func:`bos_id`) starts one (an input only). Logits therefore have ``vocab_size + 1`` columns:
``EOS`` and the tokens. Sharing the ids lets joint CTC/attention decoding score the same
hypotheses with both models.

Two ways to run a decoder, which must agree (the contract kit checks it to 1e-5 in fp32):

- :meth:`Decoder.forward` scores a whole target under teacher forcing: the inputs are the
  target shifted right behind ``BOS``; position ``i`` predicts token ``i`` of the target, and the
  position after the last token predicts ``EOS``;
- :meth:`Decoder.start` then :meth:`Decoder.step`, one token at a time with a cache, for search.
  A state is a dict of tensors whose first dimension is the hypothesis (row); search reorders and
  repeats hypotheses with :meth:`Decoder.select`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmzoo.generation_settings import DecoderSettings, SearchSettings

__all__ = [
    "EOS",
    "IGNORE",
    "Decoder",
    "DecoderSettings",
    "DecoderState",
    "SearchSettings",
    "bos_id",
    "teacher_forcing",
]

#: End of sequence: id 0, the CTC blank's id, never a transcript token.
EOS = 0

#: A decoder's search state: tensors with the hypothesis (row) first, ``(N, ...)``.
DecoderState = dict[str, Tensor]


#: Loss targets at padded positions.
IGNORE = -100


def teacher_forcing(target: Tensor, vocab_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Decoder inputs and loss targets of transcript targets.

    Args:
        target: long ``(B, L)`` token ids ``1..vocab_size``, padded with negative ids after each
            row's tokens (the transcript target's encoding).

    Returns:
        ``(inputs, input_mask, outputs)``, each ``(B, L + 1)``: ``inputs`` are ``BOS`` then the
        tokens (padding ``EOS``), ``input_mask`` is ``True`` at real inputs, and ``outputs`` are the
        tokens then ``EOS`` (padding :data:`IGNORE`). A row without tokens is unlabelled (as for the
        CTC objective): its outputs are all :data:`IGNORE`.
    """
    lengths = (target > 0).sum(dim=1)
    batch, width = target.shape
    positions = torch.arange(width + 1, device=target.device).expand(batch, width + 1)
    tokens = torch.cat([target.clamp(min=0), target.new_zeros(batch, 1)], dim=1)
    input_mask = positions <= lengths[:, None]
    inputs = torch.cat([target.new_full((batch, 1), bos_id(vocab_size)), tokens[:, :-1]], dim=1)
    inputs = inputs.masked_fill(~input_mask, EOS)
    outputs = tokens.masked_fill(positions == lengths[:, None], EOS)
    outputs = outputs.masked_fill(~input_mask | (lengths == 0)[:, None], IGNORE)
    return inputs, input_mask, outputs


def bos_id(vocab_size: int) -> int:
    """The begin-of-sequence input id of a decoder over ``vocab_size`` tokens: ``vocab_size + 1``."""
    return vocab_size + 1


class Decoder(nn.Module):
    """Base class of decoders (see the module docstring for the token ids).

    Attributes:
        vocab_size: transcript tokens ``V``; logits have ``V + 1`` columns (``EOS`` first).
        memory_dim: the width ``D`` of the memory it attends to.
    """

    vocab_size: int
    memory_dim: int

    def forward(self, memory: Tensor, memory_mask: Tensor, tokens: Tensor, token_mask: Tensor) -> Tensor:
        """Teacher-forced logits.

        Args:
            memory: ``(B, T, D)`` encoder or fusion states; memory_mask: bool ``(B, T)``, ``True``
                at real positions (a padded position must never change a result).
            tokens: long ``(B, L)`` inputs, ``BOS`` then the target's tokens; token_mask: bool
                ``(B, L)``, ``True`` at real inputs.

        Returns:
            ``(B, L, vocab_size + 1)`` logits; rows at padded inputs are unspecified.
        """
        raise NotImplementedError

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        """The state before the first step, for ``N = B`` rows of memory ``(B, T, D)``/``(B, T)``."""
        raise NotImplementedError

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Feed one input token per row and return the next token's logits.

        Args:
            tokens: long ``(N,)``, the latest input of each row (``BOS`` first).
            state: from :meth:`start` or the previous step.

        Returns:
            ``(logits (N, vocab_size + 1), new state)``; the input state is not modified.
        """
        raise NotImplementedError

    def select(self, state: DecoderState, index: Tensor) -> DecoderState:
        """The state of rows ``index`` (long ``(N',)``; rows may repeat): every tensor indexed along
        dimension 0. Override it only for a state that holds something else."""
        return {key: value.index_select(0, index) for key, value in state.items()}
