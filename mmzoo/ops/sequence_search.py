"""Batched greedy and beam search over any decoder's ``step``/``select`` (see
:mod:`mmzoo.contracts.decoder` for the token ids: ``EOS = 0``, tokens ``1..V``, an input-only ``BOS``).

Both searches keep every hypothesis of every row in one tensor and step them together; the only
Python loop is over time steps. Beam search can add prefix scorers (:class:`PrefixScorer`, such as
:class:`~mmzoo.ops.ctc_prefix_score.CTCPrefixScorer`) to the decoder's log-probabilities for joint
CTC/attention decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from mmzoo.contracts.decoder import EOS

__all__ = ["Hypotheses", "PrefixScorer", "ScorerState", "beam_search", "greedy_search"]

_NEG_INF = float("-inf")

#: A decoder's ``step``: ``(tokens (N,), state) -> (logits (N, V + 1), new state)``.
StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]
#: A decoder's ``select``: ``(state, index (N',)) -> state`` of rows ``index`` (rows may repeat).
SelectFn = Callable[[Any, Tensor], Any]
#: A prefix scorer's state: tensors with the hypothesis (row) first, ``(N, ...)``.
ScorerState = dict[str, Tensor]


@dataclass
class Hypotheses:
    """The hypotheses a search returns, ``K`` per row, best first.

    Attributes:
        tokens: long ``(B, K, L)`` token ids, padded with ``-1`` (``EOS`` is not included).
        lengths: long ``(B, K)`` tokens per hypothesis.
        scores: float ``(B, K)`` the score hypotheses are ranked by (length-normalised log-probability
            for beam search), sorted best first along ``K``.
        log_probs: float ``(B, K)`` total log-probability, ``EOS`` included when it was emitted.
    """

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    log_probs: Tensor


class PrefixScorer(Protocol):
    """Scores every one-token extension of every hypothesis, alongside the decoder.

    The search holds ``N = batch_size * beam_size`` hypotheses, hypothesis ``n`` of batch row
    ``n // beam_size`` at first; a scorer must follow its hypotheses through :meth:`select` (which
    may reorder them across beams) rather than rely on that layout later.
    """

    def start(self, batch_size: int, beam_size: int) -> ScorerState:
        """The state of ``N = batch_size * beam_size`` empty hypotheses, ``beam_size`` per batch row
        (hypothesis ``n`` belongs to row ``n // beam_size``)."""
        ...

    def score(self, state: ScorerState) -> Tensor:
        """Log-probability increments ``(N, V + 1)``: column ``c >= 1`` for appending token ``c``,
        column ``EOS`` (``0``) for ending the hypothesis as it is. Every increment must be ``<= 0``
        (a log-probability ratio), which the beam search's early stop relies on."""
        ...

    def select(self, state: ScorerState, index: Tensor, tokens: Tensor) -> ScorerState:
        """The state of hypotheses ``index`` (long ``(N',)``, may repeat), each extended by the
        matching token of ``tokens`` (long ``(N',)``, ids ``1..V``)."""
        ...


def _device_of(state: Any, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if isinstance(state, Mapping):
        for value in state.values():
            if isinstance(value, Tensor):
                return value.device
    return torch.device("cpu")


def _check_common(batch_size: int, max_length: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")


def _trim(tokens: Tensor, lengths: Tensor) -> Tensor:
    """``tokens (B, K, L)`` cut to the longest hypothesis (at least one column)."""
    longest = max(1, int(lengths.max())) if lengths.numel() else 1
    return tokens[..., :longest].contiguous()


@torch.no_grad()
def greedy_search(
    step: StepFn,
    select: SelectFn,
    state: Any,
    batch_size: int,
    bos: int,
    max_length: int,
    device: torch.device | str | None = None,
) -> Hypotheses:
    """The most probable token at every step, for ``B`` rows at once.

    A row is finished once it emits ``EOS``; the batch is still stepped as a whole (finished rows'
    outputs are ignored) until every row is finished or ``max_length`` tokens have been generated.

    Args:
        step: the decoder's step, ``(tokens (B,), state) -> (logits (B, V + 1), state)``.
        select: the decoder's select (not needed by greedy search; taken so that both searches
            share a signature).
        state: the decoder's state for the ``B`` rows (from its ``start``).
        batch_size: ``B``.
        bos: the begin-of-sequence input id (``V + 1``).
        max_length: most tokens per hypothesis (``EOS`` not counted).
        device: where the search's tensors live; ``None`` for the device of the first tensor in
            ``state`` (CPU if none).

    Returns:
        :class:`Hypotheses` with ``K = 1``; ``scores`` equal ``log_probs`` (no length normalisation).
    """
    del select
    _check_common(batch_size, max_length)
    device = _device_of(state, device)
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    output = torch.full((batch_size, max_length), -1, dtype=torch.long, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    total = torch.zeros(batch_size, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for position in range(max_length):
        logits, state = step(tokens, state)
        log_probs = logits.float().log_softmax(dim=-1)  # (B, V + 1)
        best_logp, best = log_probs.max(dim=-1)  # (B,), (B,)
        live = ~finished
        total = torch.where(live, total + best_logp, total)
        emits = live & (best != EOS)
        output[:, position] = torch.where(emits, best, output[:, position])
        lengths = lengths + emits.long()
        finished = finished | (best == EOS)
        if bool(finished.all()):
            break
        tokens = best
    tokens_out = _trim(output, lengths).unsqueeze(1)
    return Hypotheses(tokens_out, lengths.unsqueeze(1), total.unsqueeze(1), total.unsqueeze(1).clone())


def _normalise(log_probs: Tensor, steps: int, length_penalty: float) -> Tensor:
    """``log_probs / steps ** length_penalty`` (any shape; ``steps >= 1``)."""
    if length_penalty == 0:
        return log_probs
    return log_probs / float(steps) ** length_penalty


def _merge(pool: Hypotheses, candidates: Hypotheses) -> Hypotheses:
    """The ``K`` best by score of a pool ``(B, K, ...)`` and candidates ``(B, M, ...)``; both hold
    tokens of the same width ``L``. A candidate that must not enter scores ``-inf``."""
    scores = torch.cat([pool.scores, candidates.scores], dim=1)  # (B, K + M)
    return _pick(pool, candidates, scores.topk(pool.scores.shape[1], dim=1).indices)


def _pick(first: Hypotheses, second: Hypotheses, index: Tensor) -> Hypotheses:
    """Hypotheses ``index`` (long ``(B, K)``) of ``first (B, K', ...)`` and ``second (B, M, ...)``
    side by side (tokens of the same width)."""
    tokens = torch.cat([first.tokens, second.tokens], dim=1)
    return Hypotheses(
        tokens=tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])),
        lengths=torch.cat([first.lengths, second.lengths], dim=1).gather(1, index),
        scores=torch.cat([first.scores, second.scores], dim=1).gather(1, index),
        log_probs=torch.cat([first.log_probs, second.log_probs], dim=1).gather(1, index),
    )


def _pad_to(tokens: Tensor, width: int) -> Tensor:
    """``tokens (B, M, l)`` padded with ``-1`` to ``(B, M, width)``."""
    return torch.nn.functional.pad(tokens, (0, width - tokens.shape[-1]), value=-1)


def _token_scores(
    logits: Tensor,
    decoder_weight: float,
    scorers: Sequence[tuple[PrefixScorer, float]],
    scorer_states: Sequence[ScorerState],
    eos_threshold: float | None,
) -> Tensor:
    """The search score of each extension ``(N, V + 1)`` from the decoder's ``logits (N, V + 1)``:
    ``decoder_weight * log_softmax(logits) + sum_i w_i * increment_i``, with ``EOS`` set to
    ``-inf`` where the EOS threshold forbids it. A zero weight drops its term (so that ``0 * -inf``
    never appears)."""
    log_probs = logits.float().log_softmax(dim=-1)
    total = log_probs * decoder_weight if decoder_weight != 0 else torch.zeros_like(log_probs)
    for (scorer, weight), scorer_state in zip(scorers, scorer_states):
        total = total + weight * scorer.score(scorer_state).to(total.dtype)
    if eos_threshold is not None:
        best_other = log_probs[:, EOS + 1 :].max(dim=-1).values  # (N,)
        allowed = log_probs[:, EOS] >= eos_threshold * best_other
        total[:, EOS] = torch.where(allowed, total[:, EOS], torch.full_like(best_other, _NEG_INF))
    return total


def _best_reachable(log_probs: Tensor, steps: int, max_length: int, length_penalty: float) -> Tensor:
    """An upper bound on the final score of live beams with ``steps`` tokens and total
    ``log_probs (B, K)``: they end after ``steps + 1 .. max_length`` steps with a total no higher
    (every increment is ``<= 0``), and ``s / n ** p`` is monotone in ``n``, so the better end wins."""
    sooner = _normalise(log_probs, min(steps + 1, max_length), length_penalty)
    later = _normalise(log_probs, max_length, length_penalty)
    return torch.maximum(sooner, later)


def _check_beam(beam_size: int, nbest: int, length_penalty: float, eos_threshold: float | None) -> None:
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if not 1 <= nbest <= beam_size:
        raise ValueError(f"nbest must be between 1 and beam_size ({beam_size}), got {nbest}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be at least 0, got {length_penalty}")
    if eos_threshold is not None and eos_threshold <= 0:
        raise ValueError(f"eos_threshold must be positive, got {eos_threshold}")


def _weights(scorers: Sequence[tuple[PrefixScorer, float]]) -> tuple[float, list[tuple[PrefixScorer, float]]]:
    """The decoder's weight ``1 - sum(w)`` and the scorers with a non-zero weight."""
    kept = [(scorer, float(weight)) for scorer, weight in scorers if weight != 0]
    if any(not 0 <= weight <= 1 for _, weight in kept):
        raise ValueError(f"scorer weights must lie in [0, 1], got {[weight for _, weight in scorers]}")
    total = sum(weight for _, weight in kept)
    if total > 1 + 1e-6:
        raise ValueError(f"scorer weights must sum to at most 1, got {total}")
    return max(0.0, 1.0 - total), kept


@torch.no_grad()
def beam_search(
    step: StepFn,
    select: SelectFn,
    state: Any,
    batch_size: int,
    bos: int,
    max_length: int,
    beam_size: int,
    *,
    length_penalty: float = 1.0,
    eos_threshold: float | None = None,
    nbest: int = 1,
    scorers: Sequence[tuple[PrefixScorer, float]] = (),
    device: torch.device | str | None = None,
) -> Hypotheses:
    """Beam search for ``B`` rows at once, ``N = B * beam_size`` hypotheses in one tensor.

    Every step scores each live beam's ``V + 1`` extensions, ranks the ``beam_size * (V + 1)``
    candidates of a row together (one ``topk`` over ``(B, beam_size * (V + 1))``) and keeps:

    - ``EOS`` candidates among the row's ``beam_size`` best: they join the row's finished pool
      (the ``beam_size`` best finished hypotheses by score);
    - the ``beam_size`` best other candidates: the next step's beams (the decoder's and the
      scorers' states are reordered with their ``select``).

    Scores: extending a hypothesis by token ``c`` adds ``(1 - sum w) * log P_decoder(c) +
    sum w * increment(c)`` over the ``(scorer, w)`` pairs (the decoder's log-probability alone with
    no scorers). A finished hypothesis of ``n`` steps (its tokens plus ``EOS``; ``max_length`` for
    one cut off there) with total ``s`` scores ``s / n ** length_penalty``.

    Early stopping (the exact bound, like Hugging Face's ``early_stopping="never"``): a row stops
    when none of its live beams could still enter its finished pool, i.e. when the pool holds
    ``beam_size`` finished hypotheses and, for every live beam with total ``s`` after ``t`` tokens,
    the best score it could still reach, ``max(s / (t + 1) ** p, s / max_length ** p)``, is no
    higher than the pool's worst (increments are ``<= 0`` and ``s / n ** p`` is monotone in ``n``);
    a row whose live beams all score ``-inf`` stops too. Stopping thus never changes the result;
    with ``length_penalty > 0`` it rarely comes before ``max_length``, since a beam's bound is taken
    at ``max_length``. At ``max_length`` tokens the live beams of rows still searching are cut off
    (``n = max_length``, no ``EOS``) and rank behind every hypothesis that ended: a row returns
    them only where fewer than ``nbest`` hypotheses ended. (A cut-off hypothesis never paid for
    ending, and a scorer may forbid ending where it stands, as the CTC prefix score does inside
    an unclosed inline slot; ranking it by score alone lets it beat hypotheses that did end.)

    With ``beam_size = 1``, no scorers and ``length_penalty = 0`` this gives the tokens of
    :func:`greedy_search`.

    Args:
        step: the decoder's step, ``(tokens (N,), state) -> (logits (N, V + 1), state)``.
        select: the decoder's select, ``(state, index (N',)) -> state`` of rows ``index``.
        state: the decoder's state for the ``B`` rows (from its ``start``); it is repeated to
            ``N = B * beam_size`` rows with ``select`` first.
        batch_size: ``B``.
        bos: the begin-of-sequence input id (``V + 1``).
        max_length: most tokens per hypothesis (``EOS`` not counted).
        beam_size: live hypotheses kept per row, and the size of its finished pool.
        length_penalty: ``p`` above (``0`` disables length normalisation).
        eos_threshold: ``EOS`` may end a hypothesis only where the decoder's ``log P(EOS) >=
            eos_threshold * max_{c != EOS} log P(c)`` for that hypothesis (log-probabilities are
            negative, so ``1.5`` lets ``EOS`` through unless it is much less likely than the best
            token, and a value under ``1`` demands ``EOS`` be clearly the most likely); ``None``
            always allows it. A forbidden ``EOS`` scores ``-inf``.
        nbest: hypotheses returned per row (``1 <= nbest <= beam_size``).
        scorers: ``(scorer, weight)`` pairs of :class:`PrefixScorer` for the ``B`` rows, weights in
            ``[0, 1]`` summing to at most ``1``.
        device: where the search's tensors live; ``None`` for the device of the first tensor in
            ``state`` (CPU if none).

    Returns:
        :class:`Hypotheses` with ``K = nbest``, best first (those that ended, then those cut
        off). Where a row has fewer than ``nbest`` possible hypotheses (a tiny vocabulary and
        ``max_length``, or every other one impossible), the rest are placeholders scoring
        ``-inf`` with no tokens.
    """
    _check_common(batch_size, max_length)
    _check_beam(beam_size, nbest, length_penalty, eos_threshold)
    decoder_weight, kept_scorers = _weights(scorers)
    device = _device_of(state, device)
    rows, beams = batch_size, beam_size
    row_index = torch.arange(rows, device=device)
    rank = torch.arange(2 * beams, device=device)  # candidate rank within its row

    state = select(state, row_index.repeat_interleave(beams))
    scorer_states = [scorer.start(rows, beams) for scorer, _ in kept_scorers]
    tokens = torch.full((rows * beams,), bos, dtype=torch.long, device=device)
    # beams of a row start identical: only the first one may expand at the first step
    beam_logp = torch.full((rows, beams), _NEG_INF, device=device)
    beam_logp[:, 0] = 0.0
    history = torch.zeros((rows, beams, 0), dtype=torch.long, device=device)
    pool = Hypotheses(
        tokens=torch.full((rows, beams, max_length), -1, dtype=torch.long, device=device),
        lengths=torch.zeros((rows, beams), dtype=torch.long, device=device),
        scores=torch.full((rows, beams), _NEG_INF, device=device),
        log_probs=torch.full((rows, beams), _NEG_INF, device=device),
    )
    stopped = torch.zeros(rows, dtype=torch.bool, device=device)

    for position in range(max_length):
        logits, state = step(tokens, state)
        scores = _token_scores(logits, decoder_weight, kept_scorers, scorer_states, eos_threshold)
        classes = scores.shape[-1]
        if classes < 2:
            raise ValueError("beam search needs at least one token besides EOS")
        totals = (beam_logp.reshape(-1, 1) + scores).reshape(rows, beams * classes)
        # 2 * beams candidates hold at least `beams` non-EOS ones (each beam has a single EOS)
        top_logp, top_index = totals.topk(2 * beams, dim=1)  # (B, 2K)
        source = top_index // classes  # the beam each candidate extends
        token = top_index % classes
        ends = token == EOS

        # EOS candidates among the row's `beams` best enter the finished pool
        finishing = ends & (rank < beams) & ~stopped.unsqueeze(1)
        ended_logp = top_logp.masked_fill(~finishing, _NEG_INF)
        ended_tokens = history.gather(1, source.unsqueeze(-1).expand(-1, -1, position))
        pool = _merge(
            pool,
            Hypotheses(
                tokens=_pad_to(ended_tokens, max_length),
                lengths=torch.full_like(source, position),
                scores=_normalise(ended_logp, position + 1, length_penalty),
                log_probs=ended_logp,
            ),
        )

        # the best `beams` non-EOS candidates go on (EOS ones sorted behind the rest)
        order = (rank + ends.long() * 2 * beams).argsort(dim=1)[:, :beams]  # (B, K)
        beam_logp = top_logp.gather(1, order)
        chosen_source = source.gather(1, order)
        chosen_token = token.gather(1, order)
        history = torch.cat(
            [history.gather(1, chosen_source.unsqueeze(-1).expand(-1, -1, position)), chosen_token.unsqueeze(-1)],
            dim=2,
        )
        if position + 1 == max_length:
            break
        flat = (row_index.unsqueeze(1) * beams + chosen_source).reshape(-1)  # (N,)
        tokens = chosen_token.reshape(-1)
        state = select(state, flat)
        scorer_states = [
            scorer.select(scorer_state, flat, tokens) for (scorer, _), scorer_state in zip(kept_scorers, scorer_states)
        ]
        reachable = _best_reachable(beam_logp, position + 1, max_length, length_penalty).max(dim=1).values
        stopped = stopped | (reachable <= pool.scores[:, -1])
        if bool(stopped.all()):
            break

    if history.shape[-1] == max_length:
        # rows still searching at max_length: their live beams are cut off there
        live_logp = beam_logp.masked_fill(stopped.unsqueeze(1), _NEG_INF)
        cut_off = Hypotheses(
            tokens=history,
            lengths=torch.full_like(beam_logp, max_length, dtype=torch.long),
            scores=_normalise(live_logp, max_length, length_penalty),
            log_probs=live_logp,
        )
        pool = _append(pool, cut_off)
    return _best_of(pool, nbest)


def _append(pool: Hypotheses, behind: Hypotheses) -> Hypotheses:
    """The first ``K`` of: the hypotheses of the pool ``(B, K, ...)``, then those of ``behind``
    ``(B, M, ...)``, each group by score, and placeholders (``-inf``) last; tokens of the same width."""
    scores = torch.cat([pool.scores, behind.scores], dim=1)  # (B, K + M)
    by_score = scores.argsort(dim=1, descending=True, stable=True)
    group = torch.cat([torch.zeros_like(pool.lengths), torch.ones_like(behind.lengths)], dim=1)
    group = group.masked_fill(scores == _NEG_INF, 2).gather(1, by_score)
    index = by_score.gather(1, group.argsort(dim=1, stable=True))  # (B, K + M)
    return _pick(pool, behind, index[:, : pool.scores.shape[1]])


def _best_of(pool: Hypotheses, nbest: int) -> Hypotheses:
    """The first ``nbest`` of a sorted pool ``(B, K, ...)``, placeholders (score ``-inf``) emptied
    and the tokens cut to the longest kept hypothesis."""
    placeholder = pool.scores[:, :nbest] == _NEG_INF  # (B, nbest)
    lengths = pool.lengths[:, :nbest].masked_fill(placeholder, 0)
    tokens = pool.tokens[:, :nbest].masked_fill(placeholder.unsqueeze(-1), -1)
    return Hypotheses(_trim(tokens, lengths), lengths, pool.scores[:, :nbest], pool.log_probs[:, :nbest])
