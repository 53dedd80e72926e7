"""CTC decoding: greedy best path and prefix beam search against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mmzoo.ops.ctc_decode import greedy_decode, pad_decoded, prefix_beam_search
from mmzoo.ops.text import ids_to_text

from .ctc_paths import collapse


def brute_force_best(probs: torch.Tensor) -> tuple[tuple[int, ...], dict[tuple[int, ...], float]]:
    """The most probable labelling of ``(T, C)`` probabilities, summing over all alignments."""
    totals: dict[tuple[int, ...], float] = {}
    frames, classes = probs.shape
    for path in itertools.product(range(classes), repeat=frames):
        p = math.prod(float(probs[t, c]) for t, c in enumerate(path))
        key = collapse(path)
        totals[key] = totals.get(key, 0.0) + p
    return max(totals, key=totals.__getitem__), totals


def test_greedy_collapses_repeats_and_drops_blanks() -> None:
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3]])
    log_probs = torch.nn.functional.one_hot(path, 4).float().log_softmax(-1) * 10
    assert greedy_decode(log_probs, torch.tensor([9])) == [[1, 1, 2, 3]]
    assert greedy_decode(log_probs, torch.tensor([4])) == [[1, 1]]
    assert greedy_decode(log_probs) == [[1, 1, 2, 3]]


@pytest.mark.parametrize("seed", range(5))
def test_beam_of_one_matches_greedy_on_peaked_inputs(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 20, 6, generator=generator) * 8  # peaked: one class dominates each frame
    log_probs = logits.log_softmax(-1)
    lengths = torch.tensor([20, 13, 5])
    assert prefix_beam_search(log_probs, lengths, beam_size=1) == greedy_decode(log_probs, lengths)


def test_beam_search_finds_the_most_probable_labelling_where_greedy_fails() -> None:
    # T=3, labels {1, 2} plus blank 0. The best path is blank-blank-blank (empty labelling,
    # probability 0.4^3 = 0.064), but the labelling "1" gathers many alignments and wins.
    probs = torch.tensor([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25], [0.4, 0.35, 0.25]])
    best, totals = brute_force_best(probs)
    log_probs = probs.log().unsqueeze(0)
    assert greedy_decode(log_probs) == [[]]
    assert list(best) != greedy_decode(log_probs)[0]
    assert prefix_beam_search(log_probs, beam_size=8) == [list(best)]
    assert best == (1,)


@pytest.mark.parametrize("frames", [3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_beam_search_equals_brute_force_with_a_wide_beam(frames: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(100 + seed)
    probs = torch.randn(frames, 3, generator=generator).softmax(-1)
    best, totals = brute_force_best(probs)
    found = prefix_beam_search(probs.log().unsqueeze(0), beam_size=64)[0]
    assert math.isclose(totals[tuple(found)], totals[best], rel_tol=1e-6)


def test_lengths_and_batches() -> None:
    generator = torch.Generator().manual_seed(0)
    log_probs = (torch.randn(2, 6, 4, generator=generator) * 6).log_softmax(-1)
    full = prefix_beam_search(log_probs, torch.tensor([6, 3]), beam_size=4)
    alone = prefix_beam_search(log_probs[1:, :3], beam_size=4)
    assert full[1] == alone[0]
    with pytest.raises(ValueError, match="beam_size"):
        prefix_beam_search(log_probs, beam_size=0)


def test_text_and_padding_helpers() -> None:
    assert ids_to_text([1, 2, 0, 27, -1], "abcdefghijklmnopqrstuvwxyz '") == "ab "
    ids, lengths = pad_decoded([[3, 1], [], [2]])
    assert ids.tolist() == [[3, 1], [-1, -1], [2, -1]]
    assert lengths.tolist() == [2, 0, 1]
    empty, none = pad_decoded([[], []])
    assert empty.shape == (2, 1) and none.tolist() == [0, 0]
