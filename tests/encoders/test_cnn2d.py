"""cnn2d: strided 2-D convolutions over (time, frequency) with a downsampled mask."""

from __future__ import annotations

import math

import pytest
import torch

from ._util import FEATURES, TOKENS, assert_rows_match_alone, build, inputs


@pytest.mark.parametrize(("time_stride", "blocks"), [(2, 2), (3, 1), (1, 2)])
def test_mask_follows_the_time_stride(time_stride, blocks):
    encoder = build("cnn2d", FEATURES, dim=16, channels=[4] * blocks, time_stride=time_stride, dropout=0.0).eval()
    lengths = [13, 6, 2, 1]
    values, mask = inputs(FEATURES, lengths)
    out = assert_rows_match_alone(encoder, values, mask)
    expected = lengths
    for _ in range(blocks):
        expected = [math.ceil(n / time_stride) for n in expected]
    assert out.mask.sum(dim=1).tolist() == expected
    assert out.seq[~out.mask].abs().sum() == 0


def test_frequency_axis_is_reduced_before_the_projection():
    encoder = build("cnn2d", FEATURES, dim=16, channels=[4, 6], freq_stride=2)
    assert encoder.proj.in_features == 6 * 3  # 12 -> 6 -> 3 frequency bins, 6 channels


def test_rows_without_frames_give_zeros():
    encoder = build("cnn2d", FEATURES, dim=16, channels=[4], pool="max").eval()
    out = encoder(*inputs(FEATURES, [5, 0]))
    assert out.pooled[1].abs().sum() == 0 and torch.isfinite(out.pooled).all()


def test_reads_features_only_and_checks_its_options():
    with pytest.raises(ValueError, match="features"):
        build("cnn2d", TOKENS)
    with pytest.raises(ValueError, match="odd"):
        build("cnn2d", FEATURES, kernel_size=4)
    with pytest.raises(ValueError, match="stride"):
        build("cnn2d", FEATURES, kernel_size=3, time_stride=4)
