"""Signal heuristics for speech quality inspection: the baseline a learned model must beat.

:func:`features` turns one utterance (waveform + transcript) into a handful of hand-made numbers,
and :class:`HeuristicBaseline` labels utterances by thresholding them. Nothing is learned beyond
one threshold per rule, fitted on a training split, so the baseline shows what plain signal
processing already catches and, by contrast, what an audio+text model adds.

Features (all plain floats, finite for any non-empty waveform):

``clipping_ratio``
    Fraction of samples that lie on a *flat top at the clip's peak*: samples whose magnitude is
    within 0.1 % of the clip's maximum absolute value **and** that belong to a run of at least
    three consecutive such samples. A natural waveform peak is a single sample (or two for very
    low frequencies), while a clipper holds the signal at its limit for several samples in a
    row, so the run rule keeps clean speech at ~0. The rule is relative to the clip's own peak,
    so it catches clipping at ±1.0 as well as clipping followed by a gain change.
``snr_db``
    WADA-SNR (Kim & Stern, 2008, "Robust signal-to-noise ratio estimation based on waveform
    amplitude distribution analysis"). Speech amplitude is modelled as Gamma-distributed with
    shape 0.4 and the noise as Gaussian; the statistic ``G = log E|x| - E log|x|`` of the mixture
    is a monotone function of the SNR. That function is tabulated at import time by numerical
    integration (:func:`_wada_table`, built once on first use) and inverted by interpolation, clamped to [-20, 100] dB.
``silence_ratio``
    Fraction of 20 ms frames whose energy is more than 40 dB below the loudest frame.
``seconds_per_char``
    Duration in seconds divided by the number of letters in the transcript (at least 1).
    A clip cut short of its transcript has too few seconds per letter.
``trailing_speech``
    Energy of the last 50 ms relative to the median 20 ms frame energy, in dB. Complete
    utterances end in a fade or a pause (strongly negative); truncated ones end mid-speech.
``gap_ratio``
    Length of the longest *internal* run (touching neither end) of near-zero samples
    (``|x| <= 1e-4 * peak``), as a fraction of the clip. Dropouts leave such holes; natural
    zero crossings last a sample or two.

Rules of :class:`HeuristicBaseline`, in priority order (the first that fires wins):

1. ``clipped``   if ``clipping_ratio >= t``
2. ``dropout``   if ``gap_ratio >= t``
3. ``truncated`` if ``trailing_speech >= t``
4. ``truncated`` if ``seconds_per_char <= t``
5. ``noisy``     if ``snr_db <= t``
6. otherwise ``ok``

The baseline never predicts ``mismatch``: a transcript that does not match its audio leaves no
trace in the waveform (beyond a crude seconds-per-letter ratio), so catching it needs a model
that reads the text and listens to the audio together — which is the point of the comparison.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmzoo.errors import DataError

__all__ = [
    "FEATURE_NAMES",
    "LABELS",
    "RULES",
    "HeuristicBaseline",
    "Rule",
    "features",
    "wada_snr",
]

LABELS = ("ok", "noisy", "clipped", "truncated", "dropout", "mismatch")
FEATURE_NAMES = (
    "clipping_ratio",
    "snr_db",
    "silence_ratio",
    "seconds_per_char",
    "trailing_speech",
    "gap_ratio",
)

_CLIP_TOLERANCE = 1e-3  # "at the peak" means within 0.1 % of the maximum magnitude
_CLIP_MIN_RUN = 3  # a flat top lasts at least this many samples
_FRAME_S = 0.020
_SILENCE_DB = 40.0
_TAIL_S = 0.050
_GAP_REL = 1e-4  # near-zero: within 1e-4 of the peak magnitude
_TINY = 1e-20

# --------------------------------------------------------------------------- WADA-SNR

_WADA_ALPHA = 0.4  # Gamma shape of the speech amplitude (Kim & Stern 2008)
_WADA_SNR_MIN, _WADA_SNR_MAX = -20.0, 100.0


@functools.cache
def _wada_table(alpha: float = _WADA_ALPHA, step_db: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Tabulate ``G(snr) = log E|z| - E log|z|`` for ``z = s + n``.

    ``s`` has a symmetric Gamma amplitude ``|s| ~ Gamma(alpha, 1)`` and ``n ~ N(0, sigma^2)`` with
    ``sigma^2 = E[s^2] / 10^(snr/10)``. The expectation over ``s`` is a midpoint rule in
    ``u = |s|^alpha`` (where the Gamma density becomes smooth and bounded), the one over ``n`` a
    midpoint rule in the Gaussian's probability (equally weighted quantiles). Both ends of the
    table match the closed forms: Gaussian ``G = (gamma + log 2 - log(pi/2)) / 2`` and Gamma
    ``G = log(alpha) - digamma(alpha)``.
    """
    # |s| = u^(1/alpha) => density of u is exp(-u^(1/alpha)) / Gamma(alpha + 1): smooth, bounded.
    u_max = 50.0**alpha
    n_s = 400
    u = (np.arange(n_s) + 0.5) * (u_max / n_s)
    s_abs = u ** (1.0 / alpha)
    w_s = np.exp(-s_abs) * (u_max / n_s) / math.gamma(alpha + 1.0)
    w_s /= w_s.sum()
    # symmetric speech: both signs, half the weight each
    s = np.concatenate([s_abs, -s_abs])
    w_s = np.concatenate([w_s, w_s]) / 2.0
    # standard normal quantiles at the midpoints of 500 equal-probability bins
    n_n = 500
    probs = (np.arange(n_n) + 0.5) / n_n
    q = torch.special.ndtri(torch.from_numpy(probs)).numpy()
    speech_power = alpha * (alpha + 1.0)  # E[s^2] for Gamma(alpha, 1)
    snrs = np.arange(_WADA_SNR_MIN, _WADA_SNR_MAX + step_db / 2, step_db)
    g = np.empty_like(snrs)
    for i, snr in enumerate(snrs):
        sigma = math.sqrt(speech_power / 10.0 ** (snr / 10.0))
        z = np.abs(s[:, None] + sigma * q[None, :])
        mean_abs = float(w_s @ z.mean(axis=1))
        mean_log = float(w_s @ np.log(np.maximum(z, 1e-300)).mean(axis=1))
        g[i] = math.log(mean_abs) - mean_log
    # the numerical table is monotone up to rounding; enforce it for np.interp
    g = np.maximum.accumulate(g)
    return snrs, g


def wada_snr(wave: np.ndarray) -> float:
    """WADA-SNR estimate in dB of one waveform (clamped to [-20, 100] dB)."""
    x = np.abs(np.asarray(wave, dtype=np.float64))
    peak = float(x.max()) if x.size else 0.0
    if peak <= 0.0:
        return _WADA_SNR_MIN
    x = np.maximum(x / peak, 1e-10)
    g = math.log(float(x.mean())) - float(np.log(x).mean())
    snrs, table = _wada_table()
    if g <= table[0]:
        return _WADA_SNR_MIN
    if g >= table[-1]:
        return _WADA_SNR_MAX
    return float(np.interp(g, table, snrs))


# --------------------------------------------------------------------------- features


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def _frame_energies(x: np.ndarray, frame: int) -> np.ndarray:
    n = max(1, x.size // frame)
    usable = x[: n * frame] if x.size >= frame else np.pad(x, (0, frame - x.size))
    return (usable.reshape(n, frame) ** 2).mean(axis=1)


def clipping_ratio(x: np.ndarray) -> float:
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak <= 1e-4:  # (near) digital silence cannot be clipped
        return 0.0
    at_peak = np.abs(x) >= peak * (1.0 - _CLIP_TOLERANCE)
    _, lengths = _runs(at_peak)
    return float(lengths[lengths >= _CLIP_MIN_RUN].sum()) / x.size


def features(wave: Tensor | np.ndarray, sample_rate: int, text: str) -> dict[str, float]:
    """Heuristic quality features of one utterance (see the module docstring for each rule).

    Args:
        wave: mono waveform, shape ``(T,)``, float samples nominally in [-1, 1].
        sample_rate: samples per second.
        text: the transcript.
    """
    if isinstance(wave, Tensor):
        wave = wave.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise DataError("heuristic features need a non-empty waveform")
    duration = x.size / sample_rate
    peak = float(np.abs(x).max())

    frame = max(1, round(_FRAME_S * sample_rate))
    energies = _frame_energies(x, frame)
    loudest = float(energies.max())
    if loudest <= 0.0:
        silence = 1.0
    else:
        silence = float((energies < loudest * 10.0 ** (-_SILENCE_DB / 10.0)).mean())

    tail = x[-max(1, round(_TAIL_S * sample_rate)) :]
    tail_energy = float((tail**2).mean())
    median_energy = float(np.median(energies))
    trailing = 10.0 * math.log10((tail_energy + _TINY) / (median_energy + _TINY))

    letters = sum(1 for c in text if c.isalpha())

    gap = 0.0
    if peak > 0.0:
        starts, lengths = _runs(np.abs(x) <= _GAP_REL * peak)
        internal = (starts > 0) & (starts + lengths < x.size)
        if internal.any():
            gap = float(lengths[internal].max()) / x.size

    return {
        "clipping_ratio": clipping_ratio(x),
        "snr_db": wada_snr(x),
        "silence_ratio": silence,
        "seconds_per_char": duration / max(letters, 1),
        "trailing_speech": trailing,
        "gap_ratio": gap,
    }


# --------------------------------------------------------------------------- baseline


@dataclass
class Rule:
    """``label`` fires when ``feature >= threshold`` (direction ``">="``) or ``<=`` (``"<="``).

    ``threshold=None`` means the rule is disabled (its label was absent or never separable).
    """

    label: str
    feature: str
    direction: str
    threshold: float | None = None

    def fires(self, row: Mapping[str, float]) -> bool:
        if self.threshold is None:
            return False
        value = float(row[self.feature])
        return value >= self.threshold if self.direction == ">=" else value <= self.threshold


# label, feature, direction — in priority order
RULES: tuple[tuple[str, str, str], ...] = (
    ("clipped", "clipping_ratio", ">="),
    ("dropout", "gap_ratio", ">="),
    ("truncated", "trailing_speech", ">="),
    ("truncated", "seconds_per_char", "<="),
    ("noisy", "snr_db", "<="),
)


def _best_threshold(values: np.ndarray, positive: np.ndarray, direction: str) -> float | None:
    """Threshold on ``values`` maximizing the F1 of ``positive`` (``None`` if F1 is 0 throughout).

    Candidates are the observed values; the chosen one is moved halfway towards the next observed
    value on the negative side, so the margin is shared between the classes.
    """
    if not positive.any():
        return None
    v = values if direction == ">=" else -values
    order = np.argsort(-v, kind="stable")  # descending: predicting positive for a prefix
    v_sorted = v[order]
    pos_sorted = positive[order].astype(np.int64)
    tp = np.cumsum(pos_sorted)
    predicted = np.arange(1, v.size + 1)
    # only cut between distinct values: keep the last index of each run of equal values
    last = np.append(v_sorted[1:] != v_sorted[:-1], True)
    f1 = np.where(last, 2.0 * tp / (predicted + positive.sum()), -1.0)
    k = int(np.argmax(f1))
    if f1[k] <= 0.0:
        return None
    t = v_sorted[k] if k + 1 == v.size else (v_sorted[k] + v_sorted[k + 1]) / 2.0
    return float(t if direction == ">=" else -t)


class HeuristicBaseline:
    """Threshold rules over :func:`features`, applied in the fixed order of :data:`RULES`.

    :meth:`fit` fits the rules one after another as a decision list: each rule's threshold is the
    one that maximizes its label's one-vs-rest F1 among the training rows that no earlier rule
    claimed. :meth:`predict` returns the label of the first rule that fires, else ``"ok"``; it
    never returns ``"mismatch"`` (see the module docstring).
    """

    def __init__(self, rules: Sequence[Rule] | None = None) -> None:
        self.rules: list[Rule] | None = list(rules) if rules is not None else None

    def fit(self, feature_rows: Sequence[Mapping[str, float]], labels: Sequence[str]) -> HeuristicBaseline:
        if len(feature_rows) != len(labels):
            raise DataError(f"fit got {len(feature_rows)} feature rows but {len(labels)} labels")
        if not feature_rows:
            raise DataError("fit needs at least one labelled row")
        y = np.asarray(labels)
        claimed = np.zeros(len(y), dtype=bool)
        rules = []
        for label, name, direction in RULES:
            values = np.asarray([float(row[name]) for row in feature_rows])
            open_ = ~claimed
            rule = Rule(label, name, direction, _best_threshold(values[open_], y[open_] == label, direction))
            if rule.threshold is not None:
                claimed |= np.asarray([rule.fires(row) for row in feature_rows])
            rules.append(rule)
        self.rules = rules
        return self

    def predict(self, feature_rows: Sequence[Mapping[str, float]]) -> list[str]:
        if self.rules is None:
            raise RuntimeError("HeuristicBaseline.predict called before fit (or from_dict)")
        out = []
        for row in feature_rows:
            out.append(next((rule.label for rule in self.rules if rule.fires(row)), "ok"))
        return out

    def to_dict(self) -> dict[str, Any]:
        if self.rules is None:
            raise RuntimeError("HeuristicBaseline.to_dict called before fit")
        return {
            "version": 1,
            "rules": [
                {"label": r.label, "feature": r.feature, "direction": r.direction, "threshold": r.threshold}
                for r in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeuristicBaseline:
        try:
            rules = [
                Rule(
                    str(r["label"]),
                    str(r["feature"]),
                    str(r["direction"]),
                    None if r["threshold"] is None else float(r["threshold"]),
                )
                for r in data["rules"]
            ]
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"malformed heuristic baseline thresholds: {err!r}") from err
        for r in rules:
            if r.direction not in (">=", "<=") or r.feature not in FEATURE_NAMES or r.label not in LABELS:
                raise DataError(f"malformed heuristic baseline rule {r}")
        return cls(rules)
