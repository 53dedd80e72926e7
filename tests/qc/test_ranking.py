"""Precision and recall at k of the suspicion ranking, and the precision-recall curves."""

from __future__ import annotations

import pytest

from mmzoo.qc.ranking import pr_figure, ranking_quality

LABELS = ["ok", "noisy", "mismatch"]


def row(suspicion: float, truth: str | None, probs: dict[str, float] | None = None) -> dict:
    return {"suspicion": suspicion, "true_label": truth, "probs": probs or {}}


def test_precision_and_recall_at_k():
    # ranked: 0.9 noisy, 0.8 ok, 0.7 mismatch, 0.2 ok, 0.1 noisy; one unlabelled row is ignored
    rows = [row(0.2, "ok"), row(0.9, "noisy"), row(0.7, "mismatch"), row(0.8, "ok"), row(0.1, "noisy"), row(1.0, None)]
    quality = ranking_quality(rows, LABELS)
    assert quality["labelled"] == 5 and quality["unusable"] == 3
    at = {item["k"]: (item["precision"], item["recall"]) for item in quality["at_k"]}
    assert at == {3: (pytest.approx(2 / 3, abs=1e-4), pytest.approx(2 / 3, abs=1e-4)), 5: (0.6, 1.0)}


def test_the_listed_sizes_stop_below_the_labelled_rows():
    rows = [row(i / 100, "ok" if i % 3 else "noisy") for i in range(60)]
    ks = [item["k"] for item in ranking_quality(rows, LABELS)["at_k"]]
    assert ks == [10, 20, 50, 60] and ranking_quality(rows, LABELS)["unusable"] == 20


def test_nothing_to_rank_without_true_labels_or_an_ok_label():
    assert ranking_quality([row(0.5, None)], LABELS) is None
    assert ranking_quality([row(0.5, "noisy")], ["noisy", "mismatch"]) is None


def test_one_titled_curve_per_defect_label_with_positives():
    rows = [
        row(0.9, "noisy", {"ok": 0.1, "noisy": 0.8, "mismatch": 0.1}),
        row(0.2, "ok", {"ok": 0.8, "noisy": 0.1, "mismatch": 0.1}),
        row(0.6, "noisy", {"ok": 0.4, "noisy": 0.5, "mismatch": 0.1}),
        row(0.3, "ok", {"ok": 0.7, "noisy": 0.2, "mismatch": 0.1}),
    ]
    figure = pr_figure(rows, LABELS)
    (axes,) = figure.axes
    assert axes.get_title().startswith("precision-recall per defect label")
    assert axes.get_xlabel() == "recall" and axes.get_ylabel() == "precision"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["noisy (AP 1.00, 2 rows)"]
    assert pr_figure([row(0.5, "ok", {"ok": 1.0})], LABELS) is None
