"""Signal heuristics and the threshold baseline of speech quality inspection, on real digit clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mmzoo.qc.heuristics import FEATURE_NAMES, HeuristicBaseline, features, wada_snr

AUDIO = Path(__file__).resolve().parents[2] / "recipes" / "data" / "digits" / "audio"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SR = 16000


def _clips() -> list[tuple[str, np.ndarray, str]]:
    out = []
    for path in sorted(AUDIO.glob("*.flac")):
        wave, sr = sf.read(path, dtype="float64")
        assert sr == SR and wave.ndim == 1
        out.append((path.stem, wave, WORDS[int(path.stem.split("_")[0])]))
    return out


CLIPS = _clips()


def _power(x: np.ndarray) -> float:
    return float(np.mean(x**2))


def _add_white_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white Gaussian noise at exactly ``snr_db`` over the whole clip."""
    noise = rng.standard_normal(x.size)
    noise *= np.sqrt(_power(x) / (_power(noise) * 10.0 ** (snr_db / 10.0)))
    return x + noise


def _clip(x: np.ndarray, gain_db: float, level: float) -> np.ndarray:
    return np.clip(x * 10.0 ** (gain_db / 20.0), -level, level)


def _zero_gaps(x: np.ndarray, gaps: int, gap_s: float, rng: np.random.Generator) -> np.ndarray:
    """Zero ``gaps`` internal spans of ``gap_s`` seconds, one in each of ``gaps`` equal parts."""
    out = x.copy()
    size = int(gap_s * SR)
    part = x.size // gaps
    for i in range(gaps):
        start = i * part + int(rng.integers(1, max(2, part - size)))
        out[start : start + size] = 0.0
    return out


def _feats(x: np.ndarray, text: str) -> dict[str, float]:
    return features(torch.from_numpy(x), SR, text)


def test_features_are_named_finite_floats():
    _, wave, text = CLIPS[0]
    row = _feats(wave, text)
    assert tuple(row) == FEATURE_NAMES
    assert all(isinstance(v, float) and np.isfinite(v) for v in row.values())
    # numpy input and float32 tensors give the same numbers
    assert features(wave, SR, text) == pytest.approx(row)
    assert features(torch.from_numpy(wave).float(), SR, text) == pytest.approx(row, rel=1e-3, abs=1e-3)


def test_wada_snr_tracks_white_noise_added_to_real_speech():
    # The recordings have their own background noise: use the ones that WADA itself rates at
    # least 30 dB clean (10 dB above the noisiest test), so that the added noise dominates.
    # 100 dB means digital silence fooled the estimate: leave those out too.
    clean = [(name, x) for name, x, _ in CLIPS if 30.0 <= wada_snr(x) < 99.0]
    assert len(clean) >= 8
    rng = np.random.default_rng(0)
    for target in (0.0, 10.0, 20.0):
        errors = np.array([wada_snr(_add_white_noise(x, target, rng)) - target for _, x in clean])
        # measured: mean absolute error 1.7 / 0.9 / 0.8 dB at 0 / 10 / 20 dB (seed 0)
        assert np.abs(errors).mean() <= 2.0, (target, errors)
        assert abs(errors.mean()) <= 1.5, (target, errors)
        # single clips stray further near 0 dB, where G(snr) is flat (close to the Gaussian limit)
        assert np.abs(errors).max() <= 7.0, (target, errors)
    # ordering holds on every clip, clean or not
    for _, x, _ in CLIPS[::10]:
        estimates = [wada_snr(_add_white_noise(x, t, rng)) for t in (0.0, 10.0, 20.0)]
        assert estimates == sorted(estimates)


def test_clipping_ratio_is_zero_on_clean_speech_and_positive_after_clipping():
    ratios = [_feats(x, t)["clipping_ratio"] for _, x, t in CLIPS]
    assert max(ratios) < 1e-3
    for _, x, text in CLIPS[::12]:
        peak = np.abs(x).max()
        assert _feats(_clip(x, 20.0, 1.0), text)["clipping_ratio"] > 0.01
        # clipped below full scale (then maybe re-scaled) is caught as well
        assert _feats(_clip(x, 6.0, 0.5 * peak) * 0.3, text)["clipping_ratio"] > 0.01


def test_silence_and_gap_features_rise_with_zero_gaps():
    rng = np.random.default_rng(1)
    for _, x, text in CLIPS[::12]:
        before = _feats(x, text)
        after = _feats(_zero_gaps(x, 2, 0.06, rng), text)
        assert before["gap_ratio"] < 0.01 or before["snr_db"] > 99.0  # digital silence, not noise
        # a few recordings already hold internal digital silence: the gap never shrinks
        assert after["gap_ratio"] >= max(before["gap_ratio"], 0.06 * SR / x.size - 1e-9)
        assert after["silence_ratio"] > before["silence_ratio"]


def test_seconds_per_char_drops_when_half_the_audio_is_cut():
    for _, x, text in CLIPS[::12]:
        full = _feats(x, text)["seconds_per_char"]
        half = _feats(x[: x.size // 2], text)["seconds_per_char"]
        assert full == pytest.approx(x.size / SR / len(text))
        assert half == pytest.approx(full / 2, rel=1e-3)
    assert _feats(CLIPS[0][1], "")["seconds_per_char"] == pytest.approx(CLIPS[0][1].size / SR)


def _corrupted_set(clips, rng: np.random.Generator) -> tuple[list[dict[str, float]], list[str]]:
    rows, labels = [], []
    for index, (_, x, text) in enumerate(clips):
        peak = np.abs(x).max()
        variants = {
            "ok": (x, text),
            "noisy": (_add_white_noise(x, rng.uniform(-5.0, 5.0), rng), text),
            "clipped": (_clip(x, rng.uniform(6.0, 20.0), rng.uniform(0.3, 1.0) * peak), text),
            "truncated": (x[: int(x.size * rng.uniform(0.4, 0.6))], text),
            "dropout": (_zero_gaps(x, int(rng.integers(1, 3)), rng.uniform(0.05, 0.1), rng), text),
            "mismatch": (x, WORDS[(WORDS.index(text) + 1 + index % 9) % 10]),
        }
        for label, (wave, words) in variants.items():
            rows.append(_feats(wave, words))
            labels.append(label)
    return rows, labels


def test_baseline_beats_chance_on_held_out_corruptions_and_never_says_mismatch():
    rng = np.random.default_rng(2)
    # hold out whole recordings: odd takes train, even takes test
    train = [c for c in CLIPS if int(c[0].split("_")[1]) % 2 == 1]
    test = [c for c in CLIPS if int(c[0].split("_")[1]) % 2 == 0]
    train_rows, train_labels = _corrupted_set(train, rng)
    test_rows, test_labels = _corrupted_set(test, rng)

    baseline = HeuristicBaseline().fit(train_rows, train_labels)
    predicted = baseline.predict(test_rows)
    assert "mismatch" not in predicted
    truth = np.array(test_labels)
    accuracy = float((np.array(predicted) == truth).mean())
    # chance is 1/6; mismatch (1/6 of the set) is out of reach, so 5/6 is the ceiling.
    # measured: 0.72 overall (0.86 without mismatch); recall clipped 0.97, dropout 0.98,
    # truncated 0.88, noisy 0.70 (loud noise also lifts the tail, which reads as truncation)
    assert accuracy >= 0.6, accuracy
    visible = truth != "mismatch"
    assert float((np.array(predicted)[visible] == truth[visible]).mean()) >= 0.7
    for label in ("clipped", "dropout", "truncated", "noisy"):
        recall = float((np.array(predicted)[truth == label] == label).mean())
        assert recall >= 0.6, (label, recall)


def test_baseline_thresholds_round_trip_through_json():
    rng = np.random.default_rng(3)
    rows, labels = _corrupted_set(CLIPS[::6], rng)
    baseline = HeuristicBaseline().fit(rows, labels)
    restored = HeuristicBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())))
    assert restored.to_dict() == baseline.to_dict()
    assert restored.predict(rows) == baseline.predict(rows)


def test_baseline_without_a_label_in_training_disables_its_rule():
    _, x, text = CLIPS[0]
    rows = [_feats(x, text), _feats(_clip(x, 12.0, 0.2), text)]
    baseline = HeuristicBaseline().fit(rows, ["ok", "clipped"])
    thresholds = {r["label"]: r["threshold"] for r in baseline.to_dict()["rules"]}
    assert thresholds["clipped"] is not None
    assert thresholds["noisy"] is None and thresholds["dropout"] is None
    assert baseline.predict(rows) == ["ok", "clipped"]


def test_baseline_must_be_fitted_before_predicting():
    with pytest.raises(RuntimeError):
        HeuristicBaseline().predict([])
