"""Temperature scaling: the fitted temperature undoes a known over- or under-confidence."""

from __future__ import annotations

import pytest
import torch

from mmzoo.ops.calibration import IGNORE_INDEX, TEMPERATURE_RANGE, fit_temperature


def _sampled(scale: float, rows: int = 4000, classes: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose labels are drawn from softmax(logits / scale): the right temperature is ``scale``."""
    generator = torch.Generator().manual_seed(seed)
    true_logits = 2.0 * torch.randn(rows, classes, generator=generator)
    labels = torch.multinomial(true_logits.softmax(dim=-1), 1, generator=generator).squeeze(1)
    return true_logits * scale, labels


@pytest.mark.parametrize("scale", [0.4, 1.0, 3.0])
def test_the_fitted_temperature_recovers_the_scale_of_the_logits(scale):
    logits, labels = _sampled(scale)
    assert fit_temperature(logits, labels) == pytest.approx(scale, rel=0.1)


def test_unlabelled_rows_are_left_out_and_no_labels_give_one():
    logits, labels = _sampled(3.0)
    noisy = labels.clone()
    noisy[::2] = IGNORE_INDEX
    logits_half = logits.clone()
    logits_half[::2] = 100 * torch.randn_like(logits_half[::2])  # rubbish the fit must not see
    assert fit_temperature(logits_half, noisy) == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(logits, torch.full_like(labels, IGNORE_INDEX)) == 1.0


def test_the_fit_works_under_inference_mode_and_stays_in_range():
    logits, labels = _sampled(2.0)
    with torch.inference_mode():
        assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.1)
    perfect = torch.eye(3).repeat(10, 1) * 50  # always right and sure: the fit wants T -> 0
    assert fit_temperature(perfect, torch.arange(3).repeat(10)) >= TEMPERATURE_RANGE[0]
