"""Signal heuristics for speech quality inspection: the baseline a learned model must beat.

:func:`features` turns one utterance (waveform + transcript) into a handful of hand-made numbers,
and :class:`HeuristicBaseline` labels utterances with a shallow decision tree over them, fitted on a
training split. Nothing is learned beyond a few thresholds, so the baseline shows what plain signal
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

:class:`HeuristicBaseline` fits all labels jointly with scikit-learn's ``DecisionTreeClassifier``
(depth 5, at least 5 training rows a leaf, balanced class weights; see its docstring). Its only
view of a ``mismatch`` is ``seconds_per_char`` (a transcript much longer or shorter than its audio):
a wrong transcript of the right length leaves no trace in the waveform, so catching it needs a
model that reads the text and listens to the audio together — which is the point of the comparison.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmzoo.errors import DataError

__all__ = [
    "FEATURE_NAMES",
    "LABELS",
    "HeuristicBaseline",
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

TREE_MAX_DEPTH = 5
TREE_MIN_SAMPLES_LEAF = 5
_FORMAT_VERSION = 2


class HeuristicBaseline:
    """A shallow decision tree over :func:`features`, fitted jointly on every label at once.

    The earlier baseline fitted one threshold per label in a fixed order (clipped, dropout,
    truncated, noisy), each on the rows the rules before it left over. An early rule could then
    claim a later rule's whole class — on a corpus whose noisy clips end at speech-level energy,
    the ``trailing_speech`` rule of ``truncated`` took every noisy row and ``noisy`` was disabled.
    A tree chooses each split on all labels together, so ``snr_db`` can separate noisy from
    truncated rows wherever the tail energy alone cannot.

    Settings (scikit-learn's ``DecisionTreeClassifier``):

    ``max_depth=5``
        Each signal defect needs about one split on its own feature; ``ok`` against ``mismatch``
        (a transcript too long or too short for its audio) needs one or two more on
        ``seconds_per_char``. Depth 4 cannot reach ``mismatch`` on the shipped corpus; depth 5
        (at most 32 leaves, in practice about 10) can, and stays short enough to read as rules.
        Depths 6 and 8 score no better on the validation split.
    ``min_samples_leaf=5``
        No rule rests on one or two training rows (the shipped training stream has about 130 rows
        per label), which keeps the thresholds away from single outliers.
    ``class_weight="balanced"``
        A label with fewer training rows weighs as much as a common one, so a rare defect is
        not absorbed by a larger neighbour.
    ``random_state=0``
        Ties between equally good splits are broken the same way on every run.

    After :meth:`fit`, :attr:`never_predicted` lists the labels that have training rows but no
    leaf of their own; the caller must show them (``mmzoo qc baseline`` writes them into the report)
    rather than let a class disappear silently. Labels without training rows cannot be predicted.
    A leaf whose labels tie predicts the one first in :data:`LABELS` (``ok`` first, ``mismatch``
    last; labels of a custom label set after those, in sorted order): where ``ok`` and
    ``mismatch`` rows look the same, the baseline says ``ok``.

    :meth:`to_dict` gives a JSON form without pickles: the labels, the feature names, one entry
    per node (``feature`` and ``threshold`` for a split, whose left child takes
    ``value <= threshold``; ``label`` and ``probs`` for a leaf) and the tree as readable rules
    (scikit-learn's ``export_text``). :meth:`predict` walks that form, so a baseline loaded with
    :meth:`from_dict` predicts without scikit-learn and exactly as the fitted tree does (values are
    rounded to float32 first, as scikit-learn does).
    """

    def __init__(self, *, max_depth: int = TREE_MAX_DEPTH, min_samples_leaf: int = TREE_MIN_SAMPLES_LEAF) -> None:
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.classes: list[str] | None = None
        self.nodes: list[dict[str, Any]] | None = None
        self.rules: list[str] = []
        self.train_counts: dict[str, int] = {}
        self.estimator: Any = None  # the scikit-learn tree after fit; None after from_dict

    @staticmethod
    def matrix(feature_rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Rows of :func:`features` as an ``(n, len(FEATURE_NAMES))`` float64 array, in :data:`FEATURE_NAMES` order."""
        try:
            x = np.asarray([[float(row[name]) for name in FEATURE_NAMES] for row in feature_rows], dtype=np.float64)
        except KeyError as err:
            raise DataError(f"a feature row lacks the heuristic feature {err}") from err
        x = x.reshape(len(feature_rows), len(FEATURE_NAMES))
        if not np.isfinite(x).all():
            raise DataError("heuristic feature rows must be finite")
        return x

    def fit(self, feature_rows: Sequence[Mapping[str, float]], labels: Sequence[str]) -> HeuristicBaseline:
        from sklearn.tree import DecisionTreeClassifier, export_text

        if len(feature_rows) != len(labels):
            raise DataError(f"fit got {len(feature_rows)} feature rows but {len(labels)} labels")
        if not feature_rows:
            raise DataError("fit needs at least one labelled row")
        # classes as indices into LABELS (then any other label of a custom label set, sorted):
        # scikit-learn breaks a tie in a leaf towards the lowest class, so ``ok`` wins a tie
        found = {str(label) for label in labels}
        order = [name for name in LABELS if name in found] + sorted(found - set(LABELS))
        x, y = self.matrix(feature_rows), np.asarray([order.index(str(label)) for label in labels])
        tree = DecisionTreeClassifier(
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            class_weight="balanced",
            random_state=0,
        ).fit(x, y)
        classes = [order[int(i)] for i in tree.classes_]
        raw = tree.tree_
        values = raw.value[:, 0, :]
        probs = values / np.maximum(values.sum(axis=1, keepdims=True), _TINY)
        nodes: list[dict[str, Any]] = []
        for i in range(raw.node_count):
            left, right = int(raw.children_left[i]), int(raw.children_right[i])
            if left == -1:  # a leaf: scikit-learn predicts the first class of highest weight (ties: LABELS order)
                nodes.append(
                    {
                        "label": classes[int(np.argmax(values[i]))],
                        "probs": {name: round(float(p), 4) for name, p in zip(classes, probs[i])},
                        "samples": int(raw.n_node_samples[i]),
                    }
                )
            else:
                feature = FEATURE_NAMES[int(raw.feature[i])]
                nodes.append({"feature": feature, "threshold": float(raw.threshold[i]), "left": left, "right": right})
        self.estimator, self.classes, self.nodes = tree, classes, nodes
        self.train_counts = {name: int((y == order.index(name)).sum()) for name in classes}
        text = export_text(tree, feature_names=list(FEATURE_NAMES), class_names=classes, decimals=4)
        self.rules = text.rstrip("\n").split("\n")
        return self

    @property
    def never_predicted(self) -> list[str]:
        """Labels with training rows that no leaf predicts (empty when every label can be predicted)."""
        if self.nodes is None or self.classes is None:
            raise RuntimeError("HeuristicBaseline.never_predicted needs a fitted (or loaded) baseline")
        leaves = {node["label"] for node in self.nodes if "label" in node}
        return [name for name in self.classes if name not in leaves]

    def _leaf(self, row: np.ndarray) -> dict[str, Any]:
        assert self.nodes is not None
        node = self.nodes[0]
        while "label" not in node:
            # as scikit-learn: the value rounded to float32, compared in float64 with the threshold
            value = float(np.float32(row[FEATURE_NAMES.index(node["feature"])]))
            node = self.nodes[node["left"] if value <= node["threshold"] else node["right"]]
        return node

    def predict(self, feature_rows: Sequence[Mapping[str, float]]) -> list[str]:
        """The label of each row (from the JSON form: the same labels as the fitted tree)."""
        if self.nodes is None:
            raise RuntimeError("HeuristicBaseline.predict called before fit (or from_dict)")
        return [self._leaf(row)["label"] for row in self.matrix(feature_rows)]

    def predict_proba(self, feature_rows: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
        """Each row's leaf: the class-weighted share of its training rows per label (rounded to 4 places)."""
        if self.nodes is None:
            raise RuntimeError("HeuristicBaseline.predict_proba called before fit (or from_dict)")
        return [dict(self._leaf(row)["probs"]) for row in self.matrix(feature_rows)]

    def to_dict(self) -> dict[str, Any]:
        if self.nodes is None or self.classes is None:
            raise RuntimeError("HeuristicBaseline.to_dict called before fit")
        return {
            "version": _FORMAT_VERSION,
            "model": "decision_tree",
            "settings": {
                "max_depth": self.max_depth,
                "min_samples_leaf": self.min_samples_leaf,
                "class_weight": "balanced",
            },
            "features": list(FEATURE_NAMES),
            "labels": list(self.classes),
            "train_counts": dict(self.train_counts),
            "never_predicted": self.never_predicted,
            "rules": list(self.rules),
            "nodes": [dict(node) for node in self.nodes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeuristicBaseline:
        if data.get("version") != _FORMAT_VERSION:
            raise DataError(
                f"heuristic baseline format {data.get('version')!r} is not {_FORMAT_VERSION}"
                " (threshold rules of an older mmzoo); fit it again with mmzoo qc baseline"
            )
        try:
            if list(data["features"]) != list(FEATURE_NAMES):
                raise ValueError(f"features {data['features']} are not {list(FEATURE_NAMES)}")
            settings = data["settings"]
            baseline = cls(max_depth=int(settings["max_depth"]), min_samples_leaf=int(settings["min_samples_leaf"]))
            classes = [str(name) for name in data["labels"]]
            nodes: list[dict[str, Any]] = []
            for node in data["nodes"]:
                if "label" in node:
                    probs = {str(k): float(v) for k, v in node["probs"].items()}
                    nodes.append({"label": str(node["label"]), "probs": probs, "samples": int(node["samples"])})
                else:
                    nodes.append(
                        {
                            "feature": str(node["feature"]),
                            "threshold": float(node["threshold"]),
                            "left": int(node["left"]),
                            "right": int(node["right"]),
                        }
                    )
            baseline.train_counts = {str(k): int(v) for k, v in data.get("train_counts", {}).items()}
            baseline.rules = [str(line) for line in data.get("rules", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataError(f"malformed heuristic baseline: {err!r}") from err
        if not nodes or not classes or len(set(classes)) != len(classes) or not all(classes):
            raise DataError(f"malformed heuristic baseline: labels {classes}, {len(nodes)} nodes")
        for i, node in enumerate(nodes):
            if "label" in node:
                ok = node["label"] in classes
            else:
                ok = node["feature"] in FEATURE_NAMES and all(i < node[k] < len(nodes) for k in ("left", "right"))
            if not ok:
                raise DataError(f"malformed heuristic baseline node {i}: {node}")
        baseline.classes, baseline.nodes = classes, nodes
        return baseline
