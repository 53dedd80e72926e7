"""CTC prefix scores for joint CTC/attention decoding (Watanabe et al. 2017; Graves 2012, 7.3).

For a hypothesis ``g`` (a label sequence without blanks) over the frames of its row, let

- ``r_n[t]``: the log-probability that frames ``1..t`` collapse to ``g`` with a path ending in
  ``g``'s last label, and ``r_b[t]`` the same ending in a blank (``t = 0`` is before any frame: the
  empty hypothesis has ``r_b[0] = 0``, every other ``-inf``);
- ``log P_prefix(g)``: the probability that the row's labelling starts with ``g``;
- ``log P_ctc(g) = logaddexp(r_n[T], r_b[T])``: that the labelling is exactly ``g``.

Appending label ``c`` can start at frame ``t`` from ``phi[t - 1] = logaddexp(r_b, r_n)[t - 1]``,
or from ``r_b[t - 1]`` alone when ``c`` repeats ``g``'s last label (a blank must separate them), so
``P_prefix(g + c) = sum_t phi[t - 1] * p_t(c)``. The scorer's increments are
``log P_prefix(g + c) - log P_prefix(g)``, and ``log P_ctc(g) - log P_prefix(g)`` for ending ``g``;
they add up along a hypothesis to ``log P_ctc`` of the finished labelling.

With a :class:`~mmzoo.ops.slot_markup.SlotMarkup`, the hypotheses write slots inline and the CTC
head hears only their words: a markup token's increment is ``0`` and leaves the forward variables
as they are, so the scores are those of the hypothesis with its markup removed. Malformed markup,
and ending inside a slot, score ``-inf``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmzoo.ops.sequence_search import ScorerState
from mmzoo.ops.slot_markup import OUTSIDE, SlotMarkup

__all__ = ["CTCPrefixScorer"]

_NEG_INF = float("-inf")


class CTCPrefixScorer:
    """A :class:`~mmzoo.ops.sequence_search.PrefixScorer` from CTC log-probabilities.

    Every hypothesis keeps its forward variables ``r_n, r_b`` over all frames; :meth:`score`
    scores every label of every hypothesis at once (no loop), :meth:`select` runs the recursion
    over frames for the chosen extensions only.

    Frames past a row's length are replaced by a certain blank (log-probability ``0`` for the blank,
    ``-inf`` for labels), which leaves every prefix and whole-sequence probability as it is over
    the row's real frames.

    Args:
        log_probs: ``(B, T, V + 1)`` per-frame log-probabilities of the blank and labels ``1..V``.
        lengths: long ``(B,)`` real frames per row.
        blank: the blank's class. The increments' column ``blank`` is the end of the hypothesis,
            so for joint decoding with a decoder (whose ``EOS`` is ``0``) it must be ``0``.
        markup: the hypotheses' inline-slot markup, which the CTC head does not hear (its labels
            are the words alone); ``None`` when every label is heard.
    """

    def __init__(self, log_probs: Tensor, lengths: Tensor, blank: int = 0, markup: SlotMarkup | None = None) -> None:
        if log_probs.dim() != 3:
            raise ValueError(f"log_probs must be (B, T, V + 1), got shape {tuple(log_probs.shape)}")
        rows, frames, classes = log_probs.shape
        if not 0 <= blank < classes:
            raise ValueError(f"blank must be a class of the {classes} columns, got {blank}")
        lengths = torch.as_tensor(lengths, device=log_probs.device).long()
        if lengths.shape != (rows,):
            raise ValueError(f"lengths must be ({rows},), got shape {tuple(lengths.shape)}")
        self.blank = blank
        self.markup = markup
        self.frames = frames
        real = torch.arange(frames, device=log_probs.device) < lengths.unsqueeze(1)  # (B, T)
        padding = torch.full((classes,), _NEG_INF, device=log_probs.device)
        padding[blank] = 0.0
        #: (B, T, V + 1) log-probabilities, frames past a row's length a certain blank
        self.log_probs = torch.where(real.unsqueeze(-1), log_probs.detach().float(), padding)

    @property
    def batch_size(self) -> int:
        """``B``, the rows it scores."""
        return self.log_probs.shape[0]

    def start(self, batch_size: int, beam_size: int) -> ScorerState:
        """The state of ``N = batch_size * beam_size`` empty hypotheses (``n`` of row ``n // beam_size``).

        Returns:
            ``row`` long ``(N,)`` the batch row; ``last`` long ``(N,)`` the last label (``-1`` when
            empty); ``prefix`` ``(N,)`` ``log P_prefix``; ``nonblank``, ``blank`` ``(N, T + 1)`` the
            forward variables ``r_n``, ``r_b`` at frames ``0..T``; with ``markup``, also its
            :data:`~mmzoo.ops.slot_markup.Reading` of each hypothesis.
        """
        if batch_size != self.batch_size:
            raise ValueError(f"the scorer holds {self.batch_size} rows, the search asked for {batch_size}")
        device = self.log_probs.device
        row = torch.arange(batch_size, device=device).repeat_interleave(beam_size)
        blanks = self.log_probs[:, :, self.blank].cumsum(dim=1)  # (B, T)
        blank = torch.cat([torch.zeros(batch_size, 1, device=device), blanks], dim=1)[row]  # (N, T + 1)
        state = {
            "row": row,
            "last": torch.full_like(row, -1),
            "prefix": torch.zeros(row.shape, device=device),
            "nonblank": torch.full_like(blank, _NEG_INF),
            "blank": blank,
        }
        return state if self.markup is None else {**state, **self.markup.start(row.shape[0], device)}

    def _start_from(self, state: ScorerState, labels: Tensor) -> Tensor:
        """``phi (N, T, M)``: where each of ``labels`` (long ``(N, M)`` or ``(1, M)``) may start at
        frames ``1..T``, from the forward variables at frames ``0..T - 1``."""
        either = torch.logaddexp(state["blank"], state["nonblank"])[:, : self.frames, None]  # (N, T, 1)
        after_blank = state["blank"][:, : self.frames, None]
        repeats = (labels == state["last"].unsqueeze(-1)).unsqueeze(1)  # (N, 1, M)
        return torch.where(repeats, after_blank, either)

    def score(self, state: ScorerState) -> Tensor:
        """Increments ``(N, V + 1)``: ``log P_prefix(g + c) - log P_prefix(g)`` in column ``c``, and
        ``log P_ctc(g) - log P_prefix(g)`` in column ``blank``; ``-inf`` for an impossible ``g``."""
        frames = self.log_probs[state["row"]]  # (N, T, V + 1)
        classes = torch.arange(frames.shape[-1], device=frames.device).unsqueeze(0)  # (1, V + 1)
        phi = self._start_from(state, classes)  # (N, T, V + 1)
        extended = torch.logsumexp(phi + frames, dim=1)  # (N, V + 1)
        whole = torch.logaddexp(state["nonblank"][:, -1], state["blank"][:, -1])  # (N,)
        extended[:, self.blank] = whole
        prefix = state["prefix"].unsqueeze(-1)
        increments = extended - prefix
        if self.markup is not None:
            silent = self.markup.is_markup(classes, state["markup"].unsqueeze(-1))  # (N, V + 1)
            malformed = self.markup.is_malformed(classes, state)
            silent[:, self.blank] = False
            malformed[:, self.blank] = state["markup"] != OUTSIDE  # an unclosed slot cannot end
            increments = increments.masked_fill(silent, 0.0).masked_fill(malformed, _NEG_INF)
        return increments.masked_fill(prefix == _NEG_INF, _NEG_INF)

    def select(self, state: ScorerState, index: Tensor, tokens: Tensor) -> ScorerState:
        """Hypotheses ``index`` (long ``(N',)``) extended by ``tokens`` (long ``(N',)``, labels, not
        the blank): the forward variables of each new hypothesis, frame by frame (a markup token
        keeps its hypothesis's)."""
        picked = {key: value.index_select(0, index) for key, value in state.items()}
        frames = self.log_probs[picked["row"]]  # (N', T, V + 1)
        label_frames = frames.gather(2, tokens.view(-1, 1, 1).expand(-1, self.frames, 1)).squeeze(-1)  # (N', T)
        blank_frames = frames[:, :, self.blank]  # (N', T)
        phi = self._start_from(picked, tokens.unsqueeze(-1)).squeeze(-1)  # (N', T)
        r_n = r_b = torch.full(tokens.shape, _NEG_INF, device=frames.device)  # before any frame
        nonblanks, blanks = [r_n], [r_b]
        for t in range(self.frames):
            # at frame t the label either goes on or starts here; a blank may follow either
            r_n, r_b = (
                torch.logaddexp(r_n, phi[:, t]) + label_frames[:, t],
                torch.logaddexp(r_b, r_n) + blank_frames[:, t],
            )
            nonblanks.append(r_n)
            blanks.append(r_b)
        extended = {
            "row": picked["row"],
            "last": tokens,
            "prefix": torch.logsumexp(phi + label_frames, dim=1),
            "nonblank": torch.stack(nonblanks, dim=1),
            "blank": torch.stack(blanks, dim=1),
        }
        if self.markup is None:
            return extended
        silent = self.markup.is_markup(tokens, picked["markup"])  # (N',)
        kept = {
            key: torch.where(silent.view(-1, *[1] * (value.dim() - 1)), picked[key], value)
            for key, value in extended.items()
        }
        return {**kept, **self.markup.advance(tokens, picked)}
