"""CTC decoding: greedy (best path) and prefix beam search, with blank id ``0``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["greedy_decode", "prefix_beam_search", "pad_decoded"]

_NEG_INF = float("-inf")


def _lengths(log_probs: Tensor, lengths: Tensor | Sequence[int] | None) -> list[int]:
    if lengths is None:
        return [log_probs.shape[1]] * log_probs.shape[0]
    return [int(n) for n in torch.as_tensor(lengths).tolist()]


def greedy_decode(log_probs: Tensor, lengths: Tensor | Sequence[int] | None = None, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: the arg-max class per frame, repeats collapsed, blanks dropped.

    Args:
        log_probs: ``(B, T, C)`` per-frame (log) scores.
        lengths: ``(B,)`` real frames per row; ``None`` for all ``T``.
        blank: the blank id.

    Returns:
        one list of label ids per row.
    """
    best = log_probs.detach().argmax(dim=-1).cpu().tolist()
    decoded: list[list[int]] = []
    for path, length in zip(best, _lengths(log_probs, lengths)):
        labels: list[int] = []
        previous = blank
        for label in path[:length]:
            if label != previous and label != blank:
                labels.append(label)
            previous = label
        decoded.append(labels)
    return decoded


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _add(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], blank: float, label: float) -> None:
    scores = beams.setdefault(prefix, [_NEG_INF, _NEG_INF])
    scores[0] = _logaddexp(scores[0], blank)
    scores[1] = _logaddexp(scores[1], label)


def _beam_search_row(frames: list[list[float]], beam_size: int, blank: int) -> list[int]:
    # prefix -> (log P(prefix, path ends in blank), log P(prefix, path ends in its last label))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for frame in frames:
        following: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_blank, p_label) in beams.items():
            total = _logaddexp(p_blank, p_label)
            # a blank keeps the prefix
            _add(following, prefix, total + frame[blank], _NEG_INF)
            last = prefix[-1] if prefix else None
            for label, score in enumerate(frame):
                if label == blank or score == _NEG_INF:
                    continue
                if label == last:
                    # a repeat without a blank between collapses into the prefix...
                    _add(following, prefix, _NEG_INF, p_label + score)
                    # ...after a blank it extends the prefix
                    _add(following, (*prefix, label), _NEG_INF, p_blank + score)
                else:
                    _add(following, (*prefix, label), _NEG_INF, total + score)
        ranked = sorted(following.items(), key=lambda item: _logaddexp(*item[1]), reverse=True)
        beams = {prefix: (scores[0], scores[1]) for prefix, scores in ranked[:beam_size]}
    best = max(beams.items(), key=lambda item: _logaddexp(*item[1]))
    return list(best[0])


def prefix_beam_search(
    log_probs: Tensor, lengths: Tensor | Sequence[int] | None = None, beam_size: int = 8, blank: int = 0
) -> list[list[int]]:
    """CTC prefix beam search in log space: the most probable labellings, summed over alignments.

    Each prefix keeps two scores, the probability of the alignments that map to it and end in a
    blank, and of those that end in its last label; at every frame the ``beam_size`` most probable
    prefixes are kept.

    Args:
        log_probs: ``(B, T, C)`` per-frame log-probabilities.
        lengths: ``(B,)`` real frames per row; ``None`` for all ``T``.
        beam_size: prefixes kept per frame (``1`` is close to greedy decoding).
        blank: the blank id.

    Returns:
        one list of label ids per row (the best prefix).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    rows = log_probs.detach().float().cpu().tolist()
    return [
        _beam_search_row(frames[:length], beam_size, blank)
        for frames, length in zip(rows, _lengths(log_probs, lengths))
    ]


def pad_decoded(decoded: Sequence[Sequence[int]], pad: int = -1) -> tuple[Tensor, Tensor]:
    """Decoded id lists as ``(B, max(1, L))`` padded with ``pad``, and their lengths ``(B,)``."""
    lengths = torch.tensor([len(ids) for ids in decoded], dtype=torch.long)
    longest = max(1, int(lengths.max())) if len(decoded) else 1
    ids = torch.full((len(decoded), longest), pad, dtype=torch.long)
    for index, row in enumerate(decoded):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids, lengths
