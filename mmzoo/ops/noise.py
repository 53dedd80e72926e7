"""Synthetic noise, shared by the ``add_noise`` transform and the speech-QC corruptions."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["gaussian_noise"]


def gaussian_noise(length: int, colour: Literal["white", "pink"], generator: torch.Generator) -> Tensor:
    """Unscaled Gaussian noise ``(length,)``, float32.

    ``white`` has a flat spectrum; ``pink`` is the same draw shaped to a ``1/f`` power spectrum,
    with no DC component. Every random number comes from ``generator``.
    """
    white = torch.randn(length, generator=generator)
    if colour == "white":
        return white
    spectrum = torch.fft.rfft(white)
    shaping = torch.arange(spectrum.shape[0], dtype=torch.float32).rsqrt()
    shaping[0] = 0.0  # no DC offset
    return torch.fft.irfft(spectrum * shaping, n=length)
