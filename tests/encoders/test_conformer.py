"""conformer: torchaudio's Conformer layers, with padding kept out of the convolution module."""

from __future__ import annotations

import math

import pytest
import torch
from torchaudio.models import Conformer

from ._util import FEATURES, assert_rows_match_alone, build, inputs

SMALL = {"dim": 16, "layers": 2, "heads": 2, "ffn_dim": 32, "kernel_size": 5, "dropout": 0.0}


def test_same_weights_and_result_as_torchaudio_without_padding():
    encoder = build("conformer", FEATURES, **SMALL).eval()
    reference = Conformer(input_dim=16, num_heads=2, ffn_dim=32, num_layers=2, depthwise_conv_kernel_size=5).eval()
    reference.load_state_dict(encoder.conformer.state_dict())  # same parameter names
    values = torch.randn(3, 11, 12)
    out = encoder(values, torch.ones(3, 11, dtype=torch.bool))
    expected, lengths = reference(encoder.input(values), torch.full((3,), 11))
    torch.testing.assert_close(out.seq, expected)
    assert out.mask.sum(dim=1).tolist() == lengths.tolist()


@pytest.mark.parametrize("use_group_norm", [False, True])
@pytest.mark.parametrize("convolution_first", [False, True])
def test_rows_encode_the_same_alone_as_in_a_padded_batch(use_group_norm, convolution_first):
    encoder = build(
        "conformer", FEATURES, **SMALL, use_group_norm=use_group_norm, convolution_first=convolution_first
    ).eval()
    values, mask = inputs(FEATURES, [12, 7, 2])
    out = assert_rows_match_alone(encoder, values, mask)
    assert out.seq[~mask].abs().sum() == 0


def test_torchaudio_alone_would_let_padding_leak():
    """Why the layers are re-implemented: torchaudio's convolution reads padded frames."""
    encoder = build("conformer", FEATURES, **SMALL).eval()
    reference = Conformer(input_dim=16, num_heads=2, ffn_dim=32, num_layers=2, depthwise_conv_kernel_size=5).eval()
    reference.load_state_dict(encoder.conformer.state_dict())
    values, mask = inputs(FEATURES, [9, 4])
    x = encoder.input(values)
    noisy = x.clone()
    noisy[1, 4:] = 10 * torch.randn(noisy[1, 4:].shape)
    lengths = mask.sum(dim=1)
    assert not torch.allclose(reference(x, lengths)[0][1, :4], reference(noisy, lengths)[0][1, :4])


def test_subsampling_and_output_lengths():
    encoder = build("conformer", FEATURES, **SMALL, subsample=4).eval()
    lengths = [16, 9, 4, 1]
    values, mask = inputs(FEATURES, lengths)
    out = assert_rows_match_alone(encoder, values, mask)
    assert out.mask.sum(dim=1).tolist() == [math.ceil(n / 4) for n in lengths]


def test_rows_without_frames_stay_finite_in_training():
    encoder = build("conformer", FEATURES, **SMALL)
    values, mask = inputs(FEATURES, [6, 0])
    out = encoder(values, mask)
    assert out.pooled[1].abs().sum() == 0
    out.pooled.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)
    assert encoder.blocks() == list(encoder.conformer.conformer_layers) and len(encoder.blocks()) == 2
