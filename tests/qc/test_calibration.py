"""ECE and the reliability bins of the report's quality probabilities, before and after the temperature."""

from __future__ import annotations

import pytest
import torch

from mmzoo.qc.calibration import BINS, calibration_quality, reliability_figure

LABELS = ["ok", "noisy", "mismatch"]


def _rows(logits: torch.Tensor, truth: torch.Tensor, temperature: float) -> list[dict]:
    probs = (logits / temperature).softmax(dim=-1)
    return [{"probs": dict(zip(LABELS, p.tolist())), "true_label": LABELS[int(t)]} for p, t in zip(probs, truth)] + [
        {"probs": {"ok": 1.0}, "true_label": None}
    ]  # unlabelled: left out


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(300, 3, generator=generator)
    truth = torch.multinomial((logits / 3.0).softmax(dim=-1), 1, generator=generator).squeeze(1)
    return logits, truth


def test_the_ece_is_the_bin_weighted_gap_and_matches_torchmetrics():
    from torchmetrics.functional.classification import multiclass_calibration_error

    logits, truth = _data()
    found = calibration_quality(_rows(logits, truth, 1.0), LABELS, None)
    assert found["labelled"] == 300 and found["temperature"] is None and found["uncalibrated"] is None
    bins = found["bins"]
    assert sum(b["rows"] for b in bins) == 300 and all(b["rows"] > 0 for b in bins) and len(bins) <= BINS
    weighted = sum(b["rows"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / 300
    assert found["ece"] == pytest.approx(weighted, abs=2e-3)
    expected = multiclass_calibration_error(logits.softmax(-1), truth, 3, n_bins=BINS, norm="l1")
    assert found["ece"] == pytest.approx(float(expected), abs=1e-4)


def test_the_uncalibrated_figures_undo_the_temperature():
    from torchmetrics.functional.classification import multiclass_calibration_error

    logits, truth = _data()
    found = calibration_quality(_rows(logits, truth, 3.0), LABELS, 3.0)
    raw = multiclass_calibration_error(logits.softmax(-1), truth, 3, n_bins=BINS, norm="l1")
    assert found["uncalibrated"]["ece"] == pytest.approx(float(raw), abs=1e-3)
    assert found["ece"] < found["uncalibrated"]["ece"]  # the overconfident logits, tempered by their true scale
    figure = reliability_figure(found)
    axes = figure.axes[0]
    assert axes.get_title().startswith("reliability") and axes.get_xlabel() and axes.get_ylabel()
    assert len(axes.get_legend().get_texts()) == 3  # the diagonal, after and before


def test_nothing_without_labelled_rows():
    assert calibration_quality([{"probs": {"ok": 1.0}, "true_label": None}], LABELS, 2.0) is None
