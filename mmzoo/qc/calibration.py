"""How well the report's probabilities are calibrated, when the rows' true labels are known.

A probability is calibrated when, among rows given confidence ``p``, a share ``p`` is right. The
expected calibration error (ECE) is the gap between confidence (the top probability) and accuracy,
averaged over :data:`BINS` equal-width confidence bins weighted by their rows (torchmetrics'
``multiclass_calibration_error``, l1 norm). The reliability diagram draws accuracy per bin against
the diagonal.

When the quality head was calibrated (its temperature ``T`` is not 1), the report also shows the
figures before calibration: a row's uncalibrated probabilities are its calibrated ones raised to
the power ``T`` and renormalised, because ``softmax(z / T) ** T`` is proportional to ``softmax(z)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["BINS", "calibration_quality", "calibration_sentence", "reliability_figure"]

BINS = 15


def _probabilities(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[Tensor, Tensor] | None:
    labelled = [row for row in rows if row.get("probs") and row.get("true_label") in labels]
    if not labelled:
        return None
    probs = torch.tensor([[float(row["probs"].get(name, 0.0)) for name in labels] for row in labelled])
    truth = torch.tensor([labels.index(row["true_label"]) for row in labelled])
    return probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12), truth


def _uncalibrated(probs: Tensor, temperature: float) -> Tensor:
    raised = probs.double().pow(temperature)
    return (raised / raised.sum(dim=1, keepdim=True).clamp_min(1e-300)).float()


def _bins(probs: Tensor, truth: Tensor) -> list[dict[str, float]]:
    """Per confidence bin with rows: ``{"low", "high", "rows", "confidence", "accuracy"}``."""
    confidence, predicted = probs.max(dim=1)
    edges = torch.linspace(0.0, 1.0, BINS + 1)
    index = torch.bucketize(confidence, edges[1:-1], right=True)  # bins (low, high], as torchmetrics
    correct = (predicted == truth).float()
    found = []
    for b in range(BINS):
        inside = index == b
        if inside.any():
            found.append(
                {
                    "low": round(float(edges[b]), 4),
                    "high": round(float(edges[b + 1]), 4),
                    "rows": int(inside.sum()),
                    "confidence": round(float(confidence[inside].mean()), 4),
                    "accuracy": round(float(correct[inside].mean()), 4),
                }
            )
    return found


def _ece(probs: Tensor, truth: Tensor) -> float:
    from torchmetrics.functional.classification import multiclass_calibration_error

    return round(float(multiclass_calibration_error(probs, truth, probs.shape[1], n_bins=BINS, norm="l1")), 4)


def calibration_quality(
    rows: Sequence[Mapping[str, Any]], labels: Sequence[str], temperature: float | None
) -> dict[str, Any] | None:
    """ECE and reliability bins of the quality probabilities over the labelled rows.

    Args:
        rows: report rows (``probs`` by label name, ``true_label``).
        labels: the quality labels in the head's order.
        temperature: the quality head's temperature (``None``: not a calibrated head).

    Returns:
        ``{"labelled", "temperature", "ece", "bins", "uncalibrated": {"ece", "bins"} or None}``,
        or ``None`` when no row has both probabilities and a true label.
    """
    found = _probabilities(rows, list(labels))
    if found is None:
        return None
    probs, truth = found
    before = None
    if temperature is not None and temperature != 1.0:
        raw = _uncalibrated(probs, temperature)
        before = {"ece": _ece(raw, truth), "bins": _bins(raw, truth)}
    return {
        "labelled": int(truth.numel()),
        "temperature": None if temperature is None else round(temperature, 4),
        "ece": _ece(probs, truth),
        "bins": _bins(probs, truth),
        "uncalibrated": before,
    }


def calibration_sentence(calibration: Mapping[str, Any]) -> str:
    """What :func:`calibration_quality` found, in one sentence."""
    text = f"expected calibration error {calibration['ece']} over {calibration['labelled']} labelled rows"
    temperature = calibration["temperature"]
    if calibration["uncalibrated"] is not None:
        text += f" with temperature {temperature} fitted on the validation split (before: {calibration['uncalibrated']['ece']})"
    elif temperature is not None:
        text += " (temperature 1: the recipe does not calibrate; set calibrate: true on its cross_entropy objective)"
    return text + f"; {BINS} equal-width confidence bins"


def reliability_figure(calibration: Mapping[str, Any]) -> Any:
    """Accuracy against confidence per bin, after (and, when calibrated, before) the temperature."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.2, 4.4))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    series = [("calibrated" if calibration["uncalibrated"] else "model", calibration)]
    if calibration["uncalibrated"]:
        series.append(("before calibration", calibration["uncalibrated"]))
    for name, values in series:
        bins = values["bins"]
        axes.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            label=f"{name} (ECE {values['ece']:.3f})",
        )
    axes.set_title(f"reliability of the quality label ({calibration['labelled']} labelled rows)")
    axes.set_xlabel("confidence: top probability (bin mean)")
    axes.set_ylabel("accuracy in the bin")
    axes.set_xlim(0.0, 1.02)
    axes.set_ylim(0.0, 1.02)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure
