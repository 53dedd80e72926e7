"""Synthetic noise shared by the add_noise transform and the speech-QC corruptions."""

from __future__ import annotations

import torch

from mmzoo.ops.noise import gaussian_noise


def _draw(colour: str, seed: int = 0, length: int = 4096) -> torch.Tensor:
    return gaussian_noise(length, colour, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]


def test_the_same_generator_state_gives_the_same_noise():
    for colour in ("white", "pink"):
        assert torch.equal(_draw(colour), _draw(colour))
        assert not torch.equal(_draw(colour, 0), _draw(colour, 1))
        assert _draw(colour).shape == (4096,) and _draw(colour).dtype == torch.float32


def test_pink_noise_falls_with_frequency_and_has_no_dc():
    pink = torch.stack([_draw("pink", seed) for seed in range(8)])
    power = torch.fft.rfft(pink).abs().pow(2).mean(dim=0)
    assert power[0] < 1e-8
    low, high = power[1:64].mean(), power[1024:2048].mean()
    assert low > 10 * high  # 1/f: bins near 30 carry far more power than bins near 1500
    white = torch.stack([_draw("white", seed) for seed in range(8)])
    flat = torch.fft.rfft(white).abs().pow(2).mean(dim=0)
    assert 0.5 < flat[1:64].mean() / flat[1024:2048].mean() < 2.0
