"""CTC prefix scores against every CTC path enumerated, and joint CTC/attention beam search."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch
from torch import Tensor

from mmzoo.contracts.decoder import EOS, bos_id
from mmzoo.ops.ctc_prefix_score import CTCPrefixScorer
from mmzoo.ops.sequence_search import ScorerState, beam_search

from .ctc_paths import collapse


def labelling_probs(log_probs: Tensor) -> dict[tuple[int, ...], float]:
    """``P(labelling)`` of ``(T, V + 1)`` log-probabilities, summed over every path (blank ``0``)."""
    probs = log_probs.double().exp().tolist()
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(len(probs[0])), repeat=len(probs)):
        key = collapse(path)
        totals[key] = totals.get(key, 0.0) + math.prod(frame[c] for frame, c in zip(probs, path))
    return totals


def brute_force_increments(totals: dict[tuple[int, ...], float], prefix: tuple[int, ...], classes: int) -> list[float]:
    """The expected increments ``(V + 1,)`` of ``prefix``: column 0 ends it, column ``c`` appends ``c``."""

    def starting_with(start: tuple[int, ...]) -> float:
        return sum(p for labels, p in totals.items() if labels[: len(start)] == start)

    def log(p: float) -> float:
        return math.log(p) if p > 0 else -math.inf

    base = log(starting_with(prefix))
    if base == -math.inf:  # an impossible prefix has nothing to add
        return [-math.inf] * classes
    ends = log(totals.get(prefix, 0.0)) - base
    return [ends] + [log(starting_with((*prefix, c))) - base for c in range(1, classes)]


def random_log_probs(rows: int, frames: int, classes: int, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, frames, classes, generator=generator) * 1.5).log_softmax(-1)


def extended(scorer: CTCPrefixScorer, prefixes: list[tuple[int, ...]], row: int = 0) -> ScorerState:
    """The state of ``prefixes`` (all of one length, all of batch row ``row``) in one batch."""
    count = len(prefixes)
    state = scorer.start(scorer.batch_size, count)
    index = torch.arange(count) + row * count
    for position in range(len(prefixes[0])):
        state = scorer.select(state, index, torch.tensor([prefix[position] for prefix in prefixes]))
        index = torch.arange(count)
    return state


def assert_close_logs(found: Tensor, expected: list[list[float]]) -> None:
    expected_tensor = torch.tensor(expected, dtype=torch.float32)
    impossible = expected_tensor == -math.inf
    assert torch.equal(found == -math.inf, impossible)
    torch.testing.assert_close(found[~impossible], expected_tensor[~impossible], atol=1e-4, rtol=0)


@pytest.mark.parametrize(("frames", "vocab", "seed"), [(4, 2, 0), (5, 2, 1), (4, 3, 2), (5, 3, 3)])
def test_increments_match_every_path_enumerated(frames: int, vocab: int, seed: int) -> None:
    log_probs = random_log_probs(1, frames, vocab + 1, seed)
    totals = labelling_probs(log_probs[0])
    scorer = CTCPrefixScorer(log_probs, torch.tensor([frames]))
    for length in range(4):  # prefixes up to 3 labels, repeats among them
        prefixes = list(itertools.product(range(1, vocab + 1), repeat=length))
        state = scorer.start(1, 1) if length == 0 else extended(scorer, prefixes)
        found = scorer.score(state)
        assert found.shape == (len(prefixes), vocab + 1)
        assert_close_logs(found, [brute_force_increments(totals, prefix, vocab + 1) for prefix in prefixes])


def test_repeated_labels_need_a_blank_between() -> None:
    # label 1 at every frame: "1" is certain to come out, "1 1" cannot (no blank to split them)
    log_probs = torch.tensor([[0.01, 0.98, 0.01]] * 3).log().unsqueeze(0)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([3]))
    increments = scorer.score(extended(scorer, [(1,)]))[0]
    totals = labelling_probs(log_probs[0])
    assert_close_logs(increments.unsqueeze(0), [brute_force_increments(totals, (1,), 3)])
    # ending after "1" is likely; "1 1" needs 1, blank, 1 (0.98 * 0.01 * 0.98 / P("1..."))
    assert float(increments[EOS]) > math.log(0.9)
    assert float(increments[1]) < math.log(0.02)


@pytest.mark.parametrize("seed", range(2))
def test_padded_frames_never_count(seed: int) -> None:
    frames, vocab, short = 5, 2, 3
    log_probs = random_log_probs(2, frames, vocab + 1, seed)
    log_probs[1, short:] = torch.randn(frames - short, vocab + 1) * 10  # garbage, not even normalised
    padded = CTCPrefixScorer(log_probs, torch.tensor([frames, short]))
    alone = CTCPrefixScorer(log_probs[1:, :short], torch.tensor([short]))
    totals = labelling_probs(log_probs[1, :short])
    for length in range(3):
        prefixes = list(itertools.product(range(1, vocab + 1), repeat=length))
        if length == 0:
            state_padded, state_alone = padded.start(2, 1), alone.start(1, 1)
            found = padded.score(state_padded)[1:]
        else:
            state_padded, state_alone = extended(padded, prefixes, row=1), extended(alone, prefixes)
            found = padded.score(state_padded)
        torch.testing.assert_close(found, alone.score(state_alone), atol=1e-5, rtol=0)
        assert_close_logs(found, [brute_force_increments(totals, prefix, vocab + 1) for prefix in prefixes])


def test_select_follows_reordered_hypotheses() -> None:
    log_probs = random_log_probs(2, 4, 3, seed=4)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([4, 4]))
    # row 0 "1" and "2", row 1 "2" and "1"; then the hypotheses swap places and grow
    state = scorer.select(scorer.start(2, 2), torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 2, 1]))
    state = scorer.select(state, torch.tensor([3, 2, 1, 1]), torch.tensor([1, 1, 2, 1]))
    prefixes = [(1, 1), (2, 1), (2, 2), (2, 1)]
    rows = [1, 1, 0, 0]
    expected = [
        brute_force_increments(labelling_probs(log_probs[row]), prefix, 3) for prefix, row in zip(prefixes, rows)
    ]
    assert_close_logs(scorer.score(state), expected)


def test_rejects_a_scorer_of_another_batch() -> None:
    scorer = CTCPrefixScorer(random_log_probs(2, 4, 3, seed=0), torch.tensor([4, 3]))
    with pytest.raises(ValueError, match="rows"):
        scorer.start(3, 2)


class RandomDecoder:
    """A decoder of random logits ``(N, V + 1)`` by latest input (``table (B, V + 2, V + 1)``)."""

    def __init__(self, table: Tensor) -> None:
        self.table = table

    def start(self) -> dict[str, Tensor]:
        return {"row": torch.arange(self.table.shape[0])}

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return self.table[state["row"], tokens], state

    def select(self, state: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
        return {key: value.index_select(0, index) for key, value in state.items()}

    def log_prob(self, row: int, tokens: tuple[int, ...]) -> float:
        inputs = (self.table.shape[1] - 1, *tokens)
        return sum(float(self.table[row, i].log_softmax(-1)[o]) for i, o in zip(inputs, (*tokens, EOS)))


def peaked(paths: list[list[int]], classes: int, certainty: float = 0.9) -> Tensor:
    """``(B, T, classes)`` log-probabilities with ``certainty`` on each path's class per frame."""
    rest = (1 - certainty) / (classes - 1)
    probs = torch.full((len(paths), len(paths[0]), classes), rest)
    probs.scatter_(2, torch.tensor(paths).unsqueeze(-1), certainty)
    return probs.log()


@functools.cache
def joint_case() -> tuple[Tensor, RandomDecoder]:
    vocab = 2
    # row 0 says "1 2 2" (the repeat split by a blank), row 1 "2 1"; the second row has 5 frames
    paths = [[1, 1, 2, 0, 2, 0, 0], [0, 2, 2, 1, 1, 2, 1]]
    log_probs = peaked(paths, vocab + 1)
    generator = torch.Generator().manual_seed(3)
    decoder = RandomDecoder(torch.randn(2, bos_id(vocab) + 1, vocab + 1, generator=generator) * 3)
    return log_probs, decoder


def joint_search(ctc_weight: float, length_penalty: float = 0.0) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    log_probs, decoder = joint_case()
    scorer = CTCPrefixScorer(log_probs, torch.tensor([7, 5]))
    found = beam_search(
        decoder.step,
        decoder.select,
        decoder.start(),
        2,
        bos_id(2),
        max_length=8,  # more labels than frames: every hypothesis must end
        beam_size=4,
        length_penalty=length_penalty,
        scorers=[(scorer, ctc_weight)],
    )
    tokens = [tuple(t for t in row[0] if t >= 0) for row in found.tokens.tolist()]
    return found.log_probs[:, 0], tokens


def test_joint_search_with_only_ctc_finds_the_ctc_labelling() -> None:
    log_probs, decoder = joint_case()
    best = [max(totals, key=totals.__getitem__) for totals in map(labelling_probs, [log_probs[0], log_probs[1, :5]])]
    assert best == [(1, 2, 2), (2, 1)]
    # the decoder alone says something else: its weight really is zero
    _, decoder_only = joint_search(ctc_weight=0.0)
    assert decoder_only != best
    scores, tokens = joint_search(ctc_weight=1.0)
    assert tokens == best
    # the increments add up to log P_ctc of the finished labelling
    expected = [math.log(labelling_probs(log_probs[0])[best[0]]), math.log(labelling_probs(log_probs[1, :5])[best[1]])]
    assert scores.tolist() == pytest.approx(expected, abs=1e-4)


def test_joint_search_weighs_decoder_and_ctc() -> None:
    log_probs, decoder = joint_case()
    weight = 0.3
    scores, tokens = joint_search(ctc_weight=weight)
    for row, (frames, labels) in enumerate(zip([7, 5], tokens)):
        ctc = math.log(labelling_probs(log_probs[row, :frames])[labels])
        expected = (1 - weight) * decoder.log_prob(row, labels) + weight * ctc
        assert float(scores[row]) == pytest.approx(expected, abs=1e-4)
