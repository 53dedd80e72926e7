"""The recipe settings of a decoder entry (``model.decoders.NAME``): what it reads and learns, and
how it searches. Plain dataclasses without torch, so that validating a recipe imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from mmzoo.constraints import PositiveFloat, Range

__all__ = ["DecoderSettings", "SearchSettings"]


@dataclass
class SearchSettings:
    """How a decoder generates its hypotheses at validation, test and predict time
    (``model.decoders.NAME.search``; see docs/generation.md).

    Args:
        beam_size: hypotheses kept per row; ``1`` is greedy search.
        max_length: most tokens a hypothesis may have (``EOS`` not counted).
        length_penalty: a finished hypothesis of ``n`` steps scores ``log P / n ** length_penalty``
            (``0``: no length normalisation).
        eos_threshold: end a hypothesis only where ``log P(EOS)`` is at least this many times the
            best other token's log-probability (``null``: always allowed).
        ctc_head: a ``ctc`` head over the same tokens whose prefix scores join the decoder's
            (joint CTC/attention decoding); ``null`` for none.
        ctc_weight: the weight ``w`` of the CTC prefix score: ``(1 - w) * decoder + w * ctc``.
    """

    beam_size: Annotated[int, Range(ge=1)] = 1
    max_length: Annotated[int, Range(ge=1)] = 200
    length_penalty: Annotated[float, Range(ge=0)] = 1.0
    eos_threshold: PositiveFloat | None = None
    ctc_head: str | None = None
    ctc_weight: Annotated[float, Range(ge=0, le=1)] = 0.0


@dataclass
class DecoderSettings:
    """Options every decoder entry takes next to its own (``model.decoders.NAME``).

    Args:
        target: the batch target holding the token sequences it learns and is scored on (a
            ``transcript`` target).
        memory: what it attends to: ``fusion`` (the fused ``seq``) or a modality (its encoder's ``seq``).
        search: how it generates (:class:`SearchSettings`).
        alphabet: characters of ids ``1..V``, to write the hypotheses as text in predictions
            (``null``: the transcript default); give the target's.
        tokenizer: instead of ``alphabet``, the target's tokenizer.
        inline_slots: the target writes slots inline (``[type value]``): predictions also give
            the plain ``transcript`` and the ``slots``.
        slot_types: with ``inline_slots``, the slot types there are; joint CTC decoding then
            writes no other (``null``: any word).
    """

    target: str
    memory: str = "fusion"
    search: SearchSettings = field(default_factory=SearchSettings)
    alphabet: str | None = None
    tokenizer: str | None = None
    inline_slots: bool = False
    slot_types: list[str] | None = None
