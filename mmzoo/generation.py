"""What a decoder adds to the model's outputs: teacher-forced logits, and the hypotheses of its search.

The model runs every decoder of ``model.decoders`` after the heads. When the batch has the
decoder's target, the decoder scores it under teacher forcing (for the loss); outside training it
also searches (greedy or beam, optionally joint with a CTC head's prefix scores; see
:class:`~mmzoo.contracts.SearchSettings`) for the hypotheses the metrics and ``mmzoo predict`` read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts.decoder import Decoder, DecoderSettings, SearchSettings, bos_id, teacher_forcing
from mmzoo.data.fields import TranscriptText
from mmzoo.ops.ctc_prefix_score import CTCPrefixScorer
from mmzoo.ops.sequence_search import Hypotheses, beam_search, greedy_search
from mmzoo.ops.slot_markup import SlotMarkup
from mmzoo.ops.text import split_slots

__all__ = ["ctc_markup", "decoder_output", "hypotheses_of", "search"]


def ctc_markup(settings: DecoderSettings) -> SlotMarkup | None:
    """What the CTC head of a joint search does not hear, and the slot types it may write: the
    target's inline-slot markup (``inline_slots`` over a character alphabet), else ``None``.

    Raises:
        ValueError: inline slots over a tokenizer, an alphabet without ``[``, ``]`` or the space,
            or ``slot_types`` that are not words of the alphabet; the message starts with the
            setting at fault (``inline_slots: ...``, ``slot_types: ...``).
    """
    if not settings.inline_slots:
        return None
    if settings.tokenizer is not None:
        raise ValueError("inline_slots: joint CTC decoding with inline slots needs a character alphabet, not a tokenizer")
    alphabet = TranscriptText(settings.alphabet, None).alphabet
    try:
        SlotMarkup.of_alphabet(alphabet)
    except ValueError as error:
        raise ValueError(f"inline_slots: {error}") from None
    try:
        return SlotMarkup.of_alphabet(alphabet, settings.slot_types or ())
    except ValueError as error:
        raise ValueError(f"slot_types: {error}") from None


def search(
    decoder: Decoder,
    memory: Tensor,
    memory_mask: Tensor,
    settings: SearchSettings,
    ctc: Mapping[str, Tensor] | None,
    markup: SlotMarkup | None = None,
) -> Hypotheses:
    """The decoder's hypotheses for memory ``(B, T, D)`` with mask ``(B, T)``.

    Args:
        settings: the search (beam size, length penalty, EOS threshold, CTC weight).
        ctc: the output of ``settings.ctc_head`` (``log_probs (B, T', V + 1)``, ``lengths (B,)``)
            when the search is joint with CTC.
        markup: the hypotheses' inline-slot markup, which the CTC head does not hear
            (:func:`ctc_markup`).
    """
    state = decoder.start(memory, memory_mask)
    common = {
        "batch_size": memory.shape[0],
        "bos": bos_id(decoder.vocab_size),
        "max_length": settings.max_length,
        "device": memory.device,
    }
    joint = ctc is not None and settings.ctc_weight > 0
    if settings.beam_size == 1 and not joint:
        return greedy_search(decoder.step, decoder.select, state, **common)
    scorers = (
        [(CTCPrefixScorer(ctc["log_probs"].float(), ctc["lengths"], markup=markup), settings.ctc_weight)]
        if joint
        else []
    )
    return beam_search(
        decoder.step,
        decoder.select,
        state,
        beam_size=settings.beam_size,
        length_penalty=settings.length_penalty,
        eos_threshold=settings.eos_threshold,
        scorers=scorers,
        **common,
    )


def decoder_output(
    decoder: Decoder,
    memory: Tensor,
    memory_mask: Tensor,
    target: Tensor | None,
    settings: DecoderSettings,
    ctc: Mapping[str, Tensor] | None,
    *,
    search_hypotheses: bool,
) -> dict[str, Tensor]:
    """A decoder's entry in the model outputs.

    Args:
        target: the transcript target ``(B, L)`` (ids ``1..V``, negative padding), or ``None``.
        settings: the decoder entry's settings (its search, and its inline slots for joint decoding).
        ctc: the output of the search's ``ctc_head``, or ``None``.
        search_hypotheses: also search (evaluation and prediction).

    Returns:
        With a target, ``logits (B, L + 1, V + 1)`` and the loss ``targets (B, L + 1)``
        (:func:`~mmzoo.contracts.teacher_forcing`); with a search, ``tokens (B, L')`` (the best
        hypothesis, padded with ``-1``), ``lengths (B,)`` and ``scores (B,)``.
    """
    output: dict[str, Tensor] = {}
    if target is not None:
        inputs, input_mask, outputs = teacher_forcing(target.long(), decoder.vocab_size)
        output["logits"] = decoder(memory, memory_mask, inputs, input_mask)
        output["targets"] = outputs
    if search_hypotheses:
        with torch.no_grad():
            markup = ctc_markup(settings) if ctc is not None else None
            found = search(decoder, memory, memory_mask, settings.search, ctc, markup)
        output["tokens"] = found.tokens[:, 0]
        output["lengths"] = found.lengths[:, 0]
        output["scores"] = found.scores[:, 0]
    return output


def hypotheses_of(output: Mapping[str, Any], settings: DecoderSettings) -> dict[str, Any]:
    """The per-row prediction values of a decoder's output: ``tokens`` ``(B, L')``, ``score`` ``(B,)``
    (length-normalised log-probability) and ``text`` (``B`` strings); with ``inline_slots``, also
    the plain ``transcript`` and the ``slots`` (``[[type, value], ...]`` per row)."""
    texts = TranscriptText(settings.alphabet, settings.tokenizer)(output["tokens"])
    values: dict[str, Any] = {"tokens": output["tokens"], "score": output["scores"], "text": texts}
    if settings.inline_slots:
        split = [split_slots(text) for text in texts]
        values["transcript"] = [plain for plain, _ in split]
        values["slots"] = [[list(slot) for slot in slots] for _, slots in split]
    return values
