"""Corruptions of clean speech, for training a quality inspector: pure functions.

Waveforms are mono float ``(T,)`` tensors; every random draw comes from the ``generator``
argument, so the same generator state gives the same corruption.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from mmzoo.ops.noise import gaussian_noise

__all__ = ["add_noise", "clip", "dropout", "make_noise", "mismatch_transcript", "snr_db_of", "truncate"]


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """An integer drawn uniformly from ``[low, high]`` (both included)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def _power(wave: Tensor) -> float:
    return float(wave.double().pow(2).mean())


def snr_db_of(signal: Tensor, noise: Tensor) -> float:
    """``10 log10(power(signal) / power(noise))`` over the whole clip, in dB."""
    return 10.0 * math.log10(_power(signal) / _power(noise))


def _fit_length(source: Tensor, length: int, generator: torch.Generator) -> Tensor:
    """``source`` looped (when shorter) and cropped at a random offset to ``length`` samples."""
    if source.shape[0] < length:
        source = source.repeat(-(-length // source.shape[0]))
    start = _randint(0, source.shape[0] - length, generator)
    return source[start : start + length]


def make_noise(
    length: int,
    kind: Literal["white", "pink", "babble"],
    generator: torch.Generator,
    babble_sources: Sequence[Tensor] | None = None,
) -> Tensor:
    """Unscaled noise ``(length,)``.

    ``white`` is Gaussian; ``pink`` is Gaussian shaped to a ``1/f`` power spectrum (no DC);
    ``babble`` sums 3 to 5 waveforms picked from ``babble_sources`` (distinct ones, unless there
    are fewer), each scaled to unit power, looped and cropped at a random offset to ``length``.

    Raises:
        ValueError: an unknown kind, or ``babble`` without usable sources.
    """
    if kind in ("white", "pink"):
        return gaussian_noise(length, kind, generator)
    if kind != "babble":
        raise ValueError(f"noise kind must be white, pink or babble, got {kind!r}")
    sources = [s.float() for s in babble_sources or () if s.numel() and _power(s) > 0]
    if not sources:
        raise ValueError("babble noise needs babble_sources: other utterances that are not silent")
    count = _randint(3, 5, generator)
    if len(sources) >= count:
        picks = torch.randperm(len(sources), generator=generator)[:count].tolist()
    else:
        picks = torch.randint(0, len(sources), (count,), generator=generator).tolist()
    babble = torch.zeros(length)
    for pick in picks:
        source = sources[pick]
        babble += _fit_length(source, length, generator) / math.sqrt(_power(source))
    return babble


def add_noise(
    wave: Tensor,
    snr_db: float,
    kind: Literal["white", "pink", "babble"],
    generator: torch.Generator,
    babble_sources: Sequence[Tensor] | None = None,
) -> Tensor:
    """``wave`` plus noise scaled so that the SNR over the whole clip is exactly ``snr_db``.

    See :func:`make_noise` for the kinds. A silent ``wave`` is returned unchanged (a copy).
    """
    noise = make_noise(wave.shape[0], kind, generator, babble_sources).double()
    signal_power = _power(wave)
    noise_power = float(noise.pow(2).mean())
    if not signal_power > 0 or not noise_power > 0:
        return wave.clone()
    scale = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (wave.double() + noise * scale).to(wave.dtype)


def clip(wave: Tensor, gain_db: float, level: float) -> tuple[Tensor, Tensor]:
    """Amplify by ``gain_db`` then hard-clip at ``±level``.

    Returns:
        The clipped waveform and a bool ``(T,)`` mask of the clipped samples
        (``|gain * wave| > level``).
    """
    if level <= 0:
        raise ValueError(f"clip: level must be positive, got {level}")
    amplified = wave * (10.0 ** (gain_db / 20.0))
    clipped = amplified.abs() > level
    return amplified.clamp(-level, level), clipped


def truncate(wave: Tensor, fraction: float) -> Tensor:
    """``wave`` without the last ``round(fraction * T)`` samples (at least one sample is kept)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"truncate: fraction must be in [0, 1), got {fraction}")
    keep = max(1, wave.shape[0] - round(fraction * wave.shape[0]))
    return wave[:keep].clone()


def dropout(
    wave: Tensor, gaps: int, gap_ms: float, sample_rate: float, generator: torch.Generator
) -> tuple[Tensor, list[tuple[int, int]]]:
    """Zero ``gaps`` non-overlapping gaps of ``gap_ms`` each (like lost packets).

    The clip is split into ``gaps`` equal parts and one gap lands at a random place in each (a gap
    longer than its part is shortened to the part).

    Returns:
        The waveform and the ``(start, length)`` of each gap, in samples.
    """
    if gaps < 1:
        raise ValueError(f"dropout: gaps must be at least 1, got {gaps}")
    out = wave.clone()
    length = max(1, int(round(gap_ms * sample_rate / 1000.0)))
    part = wave.shape[0] // gaps
    spans = []
    for index in range(gaps):
        size = min(length, part)
        if size < 1:
            break
        start = index * part + _randint(0, part - size, generator)
        out[start : start + size] = 0.0
        spans.append((start, size))
    return out, spans


def mismatch_transcript(
    text: str,
    other_text: str | None,
    mode: Literal["swap", "substitute"],
    generator: torch.Generator,
    vocabulary: Sequence[str],
) -> str:
    """A transcript that does not match the audio any more; never ``text`` itself.

    ``swap`` returns ``other_text`` (another utterance's transcript); when that is missing or the
    same text, it substitutes instead. ``substitute`` replaces 1 or 2 words (as many as the text
    has) with different words drawn from ``vocabulary``.

    Raises:
        ValueError: nothing different can be made (no other word in ``vocabulary``).
    """
    if mode == "swap" and other_text is not None and other_text.strip() != text.strip():
        return other_text
    words = text.split() or [text]
    count = min(len(words), _randint(1, 2, generator))
    positions = torch.randperm(len(words), generator=generator)[:count].tolist()
    for position in positions:
        choices = sorted({w for w in vocabulary if w and w != words[position]})
        if not choices:
            raise ValueError(f"mismatch_transcript: no word in the vocabulary differs from {words[position]!r}")
        words[position] = choices[_randint(0, len(choices) - 1, generator)]
    return " ".join(words)
