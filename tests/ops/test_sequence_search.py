"""Batched greedy and beam search on a toy decoder, against greedy, single rows and brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from mmzoo.contracts.decoder import EOS, bos_id
from mmzoo.ops.sequence_search import Hypotheses, beam_search, greedy_search


class TableDecoder:
    """A decoder whose logits are looked up: ``table[row, position, previous] + context[row, before]``.

    ``table`` is ``(B, P, V + 2, V + 1)``: per batch row, per step (the last one reused after
    ``P`` steps), per latest input (``BOS`` is ``V + 1``), logits of ``EOS`` and ``1..V``;
    ``context`` ``(B, V + 2, V + 1)`` adds logits by the input before the latest one (``BOS`` at the
    first step). Its state holds each hypothesis's batch row, step and input before the latest,
    so ``select`` must move them right.
    """

    def __init__(self, table: Tensor, context: Tensor | None = None) -> None:
        self.table = table
        self.context = torch.zeros(table.shape[0], *table.shape[2:]) if context is None else context
        self.vocab_size = table.shape[-1] - 1
        self.calls = 0

    def start(self) -> dict[str, Tensor]:
        rows = self.table.shape[0]
        return {
            "row": torch.arange(rows),
            "position": torch.zeros(rows, dtype=torch.long),
            "before": torch.full((rows,), bos_id(self.vocab_size)),
        }

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        self.calls += 1
        row, position = state["row"], state["position"].clamp(max=self.table.shape[1] - 1)
        logits = self.table[row, position, tokens] + self.context[row, state["before"]]
        return logits, {"row": row, "position": state["position"] + 1, "before": tokens}

    def select(self, state: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
        return {key: value.index_select(0, index) for key, value in state.items()}

    def logits(self, row: int, inputs: tuple[int, ...]) -> Tensor:
        """The logits ``(V + 1,)`` after ``inputs`` (``BOS`` first)."""
        step = min(len(inputs) - 1, self.table.shape[1] - 1)
        before = inputs[-2] if len(inputs) > 1 else bos_id(self.vocab_size)
        return self.table[row, step, inputs[-1]] + self.context[row, before]

    def log_prob(self, row: int, tokens: tuple[int, ...], ended: bool) -> float:
        """The sequence's total log-probability, ``EOS`` included when ``ended``."""
        inputs = (bos_id(self.vocab_size), *tokens)
        outputs = (*tokens, EOS) if ended else tokens
        return sum(
            float(self.logits(row, inputs[: position + 1]).log_softmax(-1)[token])
            for position, token in enumerate(outputs)
        )


def random_decoder(
    rows: int, vocab: int, steps: int, seed: int, scale: float = 2.0, eos_bias: float = 0.0
) -> TableDecoder:
    """Random ``table`` and ``context`` (see :class:`TableDecoder`), ``EOS`` logits shifted by ``eos_bias``."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(rows, steps, vocab + 2, vocab + 1, generator=generator) * scale
    table[..., EOS] += eos_bias
    context = torch.randn(rows, vocab + 2, vocab + 1, generator=generator) * scale / 2
    return TableDecoder(table, context)


def table_of(probs: dict[int, list[float]], vocab: int) -> Tensor:
    """A one-row, step-independent table ``(1, 1, V + 2, V + 1)`` from next-token probabilities per
    previous input (``EOS`` first); inputs not given are uniform."""
    table = torch.zeros(1, 1, vocab + 2, vocab + 1)
    for previous, row in probs.items():
        table[0, 0, previous] = torch.tensor(row).log()
    return table


def greedy(decoder: TableDecoder, max_length: int) -> Hypotheses:
    return greedy_search(
        decoder.step, decoder.select, decoder.start(), decoder.table.shape[0], bos_id(decoder.vocab_size), max_length
    )


def beam(decoder: TableDecoder, max_length: int, beam_size: int, **options: object) -> Hypotheses:
    return beam_search(
        decoder.step,
        decoder.select,
        decoder.start(),
        decoder.table.shape[0],
        bos_id(decoder.vocab_size),
        max_length,
        beam_size,
        **options,  # type: ignore[arg-type]
    )


def sequences(hypotheses: Hypotheses) -> list[list[tuple[int, ...]]]:
    """Token tuples ``[row][k]``, padding dropped (checked to be ``-1``)."""
    result = []
    for row_tokens, row_lengths in zip(hypotheses.tokens.tolist(), hypotheses.lengths.tolist()):
        row = []
        for tokens, length in zip(row_tokens, row_lengths):
            assert all(token == -1 for token in tokens[length:])
            assert all(1 <= token for token in tokens[:length])
            row.append(tuple(tokens[:length]))
        result.append(row)
    return result


def brute_force(decoder: TableDecoder, row: int, max_length: int, length_penalty: float) -> list[tuple[float, tuple]]:
    """Every hypothesis of a row as ``(score, tokens)``, best first: each sequence shorter than
    ``max_length`` then ``EOS`` (``n + 1`` steps), then, behind all of them, each of ``max_length``
    tokens (cut off)."""
    vocab = decoder.vocab_size
    ended, cut_off = [], []
    for length in range(max_length + 1):
        for tokens in itertools.product(range(1, vocab + 1), repeat=length):
            steps = length + 1 if length < max_length else max_length
            scored = (decoder.log_prob(row, tokens, length < max_length) / steps**length_penalty, tokens)
            (ended if length < max_length else cut_off).append(scored)
    return sorted(ended, reverse=True) + sorted(cut_off, reverse=True)


@pytest.mark.parametrize("seed", range(4))
def test_beam_of_one_gives_the_greedy_tokens(seed: int) -> None:
    decoder = random_decoder(rows=4, vocab=5, steps=8, seed=seed, eos_bias=1.0)
    expected = greedy(decoder, max_length=8)
    found = beam(decoder, max_length=8, beam_size=1, length_penalty=0.0)
    assert sequences(found) == sequences(expected)
    torch.testing.assert_close(found.log_probs, expected.log_probs)
    lengths = [len(row[0]) for row in sequences(expected)]
    assert len(set(lengths)) > 1  # rows of several lengths, some cut off or not


@pytest.mark.parametrize("seed", range(2))
def test_greedy_scores_its_sequences(seed: int) -> None:
    decoder = random_decoder(rows=3, vocab=4, steps=6, seed=seed, eos_bias=0.5)
    found = greedy(decoder, max_length=6)
    for row, ((tokens,), score) in enumerate(zip(sequences(found), found.log_probs[:, 0].tolist())):
        assert score == pytest.approx(decoder.log_prob(row, tokens, ended=len(tokens) < 6), abs=1e-5)
        # each output (then EOS, unless cut off) is the most probable one after the inputs before it
        inputs = (bos_id(decoder.vocab_size), *tokens)
        outputs = (*tokens, EOS) if len(tokens) < 6 else tokens
        for position, token in enumerate(outputs):
            assert int(decoder.logits(row, inputs[: position + 1]).argmax()) == token
    torch.testing.assert_close(found.scores, found.log_probs)


@pytest.mark.parametrize(("length_penalty", "nbest"), [(0.0, 1), (1.0, 3), (0.6, 4)])
def test_batched_beam_search_equals_each_row_alone(length_penalty: float, nbest: int) -> None:
    decoder = random_decoder(rows=3, vocab=4, steps=7, seed=11, scale=1.5, eos_bias=0.5)
    together = beam(decoder, max_length=7, beam_size=4, length_penalty=length_penalty, nbest=nbest)
    assert together.tokens.shape[:2] == (3, nbest)
    for row in range(3):
        one_row = TableDecoder(decoder.table[row : row + 1], decoder.context[row : row + 1])
        alone = beam(one_row, 7, 4, length_penalty=length_penalty, nbest=nbest)
        assert sequences(together)[row] == sequences(alone)[0]
        torch.testing.assert_close(together.scores[row], alone.scores[0])
        torch.testing.assert_close(together.log_probs[row], alone.log_probs[0])
    # best first, and the scores are the length-normalised log-probabilities
    assert bool((together.scores[:, :-1] >= together.scores[:, 1:]).all())
    steps = torch.where(together.lengths < 7, together.lengths + 1, together.lengths).float()
    torch.testing.assert_close(together.scores, together.log_probs / steps**length_penalty)


def test_beam_search_finds_what_greedy_misses() -> None:
    # after BOS token 1 is likelier (0.6) than 2 (0.4), but after 1 every choice is poor (at most
    # 0.34) while after 2 EOS is almost sure: greedy says "1" (0.204), the best is "2" (0.396)
    vocab = 2
    table = table_of({bos_id(vocab): [0.001, 0.6, 0.399], 1: [0.34, 0.33, 0.33], 2: [0.99, 0.005, 0.005]}, vocab)
    decoder = TableDecoder(table)
    assert sequences(greedy(decoder, max_length=5)) == [[(1,)]]
    found = beam(decoder, max_length=5, beam_size=2, length_penalty=0.0)
    assert sequences(found) == [[(2,)]]
    assert float(found.log_probs[0, 0]) == pytest.approx(math.log(0.399 * 0.99), abs=1e-5)
    assert float(found.log_probs[0, 0]) > float(greedy(decoder, max_length=5).log_probs[0, 0])


@pytest.mark.parametrize(("seed", "length_penalty"), [(0, 0.0), (1, 1.0), (2, 0.5), (3, 1.0)])
def test_exhaustive_beam_search_finds_the_brute_force_best(seed: int, length_penalty: float) -> None:
    vocab, max_length = 3, 4
    decoder = random_decoder(rows=2, vocab=vocab, steps=max_length, seed=seed, scale=1.0, eos_bias=-0.5)
    # a beam as wide as every sequence of max_length tokens keeps every hypothesis
    found = beam(decoder, max_length, vocab**max_length, length_penalty=length_penalty, nbest=5)
    for row in range(2):
        expected = brute_force(decoder, row, max_length, length_penalty)[:5]
        assert sequences(found)[row] == [tokens for _, tokens in expected]
        assert found.scores[row].tolist() == pytest.approx([score for score, _ in expected], abs=1e-5)


def test_early_stopping_waits_for_what_length_normalisation_can_still_reach() -> None:
    # ending at once scores log 0.7 = -0.36; "1" starts at log 0.3 = -1.2, whose score after two
    # steps (-0.6) looks hopeless, yet fifteen likely 1s and an end score (-1.2 + 14 log 0.97
    # + log 0.03) / 16 = -0.32 and win
    vocab, max_length = 1, 16
    decoder = TableDecoder(table_of({bos_id(vocab): [0.7, 0.3], 1: [0.03, 0.97]}, vocab))
    found = beam(decoder, max_length, beam_size=2, length_penalty=1.0)
    best_score, best_tokens = brute_force(decoder, 0, max_length, length_penalty=1.0)[0]
    assert sequences(found) == [[best_tokens]] == [[(1,) * (max_length - 1)]]
    assert float(found.scores[0, 0]) == pytest.approx(best_score, abs=1e-5)


def test_cut_off_hypotheses_rank_behind_every_ended_one() -> None:
    # after 1 the decoder never ends, so sixteen 1s cut off at max_length score far better
    # (log 0.3 / 16 = -0.08) than ending at once (log 0.7 = -0.36), yet come after it
    vocab, max_length = 1, 16
    decoder = TableDecoder(table_of({bos_id(vocab): [0.7, 0.3], 1: [0.0, 1.0]}, vocab))
    found = beam(decoder, max_length, beam_size=2, length_penalty=1.0, nbest=2)
    assert sequences(found) == [[(), (1,) * max_length]]
    assert float(found.scores[0, 0]) < float(found.scores[0, 1])
    # where nothing ended, the cut-off hypotheses are what there is
    endless = TableDecoder(table_of({bos_id(vocab): [0.0, 1.0], 1: [0.0, 1.0]}, vocab))
    assert sequences(beam(endless, 4, beam_size=2, length_penalty=1.0)) == [[(1, 1, 1, 1)]]


def test_eos_threshold_blocks_an_unlikely_end() -> None:
    # after BOS: 1 is likely (0.9), EOS is not (0.05), but every token after that is a coin toss
    # between 1 and 2, so ending at once (0.05) beats any long sequence (0.9 * 0.5 ** 5 = 0.028)
    vocab = 2
    after = [0.001, 0.4995, 0.4995]
    probs = {bos_id(vocab): [0.05, 0.9, 0.05], 1: after, 2: after}
    decoder = TableDecoder(table_of(probs, vocab))
    assert sequences(beam(decoder, max_length=6, beam_size=3, length_penalty=0.0)) == [[()]]
    # log 0.05 = -3.0 < 1.5 * log 0.9 = -0.16: EOS is never allowed, so it runs to max_length
    blocked = beam(decoder, max_length=6, beam_size=3, length_penalty=0.0, eos_threshold=1.5)
    (tokens,) = sequences(blocked)[0]
    assert len(tokens) == 6 and tokens[0] == 1
    # a threshold that lets this EOS through changes nothing (log 0.05 >= 40 * log 0.9 = -4.2)
    assert sequences(beam(decoder, max_length=6, beam_size=3, length_penalty=0.0, eos_threshold=40.0)) == [[()]]


def test_eos_threshold_below_one_demands_a_clear_end() -> None:
    # EOS is the most likely first choice (0.5 against 0.45) but not by much; after 1, EOS is sure
    vocab = 2
    probs = {bos_id(vocab): [0.5, 0.45, 0.05], 1: [0.98, 0.01, 0.01], 2: [0.98, 0.01, 0.01]}
    decoder = TableDecoder(table_of(probs, vocab))
    assert sequences(beam(decoder, max_length=4, beam_size=1, length_penalty=0.0)) == [[()]]
    # log 0.5 = -0.69 < 0.5 * log 0.45 = -0.40: blocked; then log 0.98 >= 0.5 * log 0.01: allowed
    found = beam(decoder, max_length=4, beam_size=1, length_penalty=0.0, eos_threshold=0.5)
    assert sequences(found) == [[(1,)]]


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_rows_finish_independently(search: str) -> None:
    vocab, max_length = 3, 5
    decoder = random_decoder(rows=3, vocab=vocab, steps=1, seed=5)
    table = decoder.table
    table[0, :, :, EOS] = 50.0  # row 0 ends at its first step
    table[1, :, :, EOS] = -50.0  # row 1 never ends
    table[2, :, 1:, EOS] = 50.0  # row 2 ends after one token
    table[2, :, bos_id(vocab), EOS] = -50.0
    found = greedy(decoder, max_length) if search == "greedy" else beam(decoder, max_length, 3, length_penalty=1.0)
    assert found.lengths[:, 0].tolist() == [0, max_length, 1]
    assert found.tokens.shape == (3, 1, max_length)
    assert found.tokens[0, 0].tolist() == [-1] * max_length
    assert found.tokens[2, 0, 1:].tolist() == [-1] * (max_length - 1)
    assert bool((found.tokens[1, 0] >= 1).all())


def test_searches_stop_once_every_row_is_done() -> None:
    decoder = random_decoder(rows=2, vocab=3, steps=1, seed=7)
    decoder.context.zero_()
    table = decoder.table
    table[:, :, 1:, EOS] = 50.0  # every row ends after its first token
    table[:, :, bos_id(3), EOS] = -50.0
    assert sequences(greedy(decoder, max_length=20)) == [[(int(t),)] for t in table[:, 0, 4, 1:].argmax(-1) + 1]
    assert decoder.calls == 2
    decoder.calls = 0
    # with no length penalty a pool of `beam_size` ends is final as soon as it is full
    beam(decoder, max_length=20, beam_size=2, length_penalty=0.0)
    assert decoder.calls == 2


def test_rejects_bad_settings() -> None:
    decoder = random_decoder(rows=1, vocab=2, steps=1, seed=0)
    with pytest.raises(ValueError, match="nbest"):
        beam(decoder, max_length=3, beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="max_length"):
        greedy(decoder, max_length=0)
    with pytest.raises(ValueError, match="eos_threshold"):
        beam(decoder, max_length=3, beam_size=2, eos_threshold=0.0)
