"""Audio transforms: resampling, framing, log-mel / MFCC features, normalization and augmentation.

Waveforms are float ``(T,)`` tensors at the input spec's ``sample_rate``; features are float
``(T, F)`` tensors (frames by bins) whose spec ``sample_rate`` is in frames per second. Signal
processing goes through torchaudio where it has the operation; every random draw comes from the
``generator`` passed to ``__call__``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

import torch
import torchaudio
from torch import Tensor

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.transform import Transform
from mmzoo.ops.noise import gaussian_noise

__all__ = [
    "Resample",
    "PreEmphasis",
    "Frame",
    "LogMel",
    "Mfcc",
    "AudioNormalize",
    "SpecAugment",
    "AddNoise",
    "Gain",
]

_HINTS = {
    "waveform": "it works on raw audio, so it must come before feature transforms such as log_mel",
    "features": "put it after a feature transform such as log_mel, mfcc or frame",
}


def _expect_kind(name: str, spec: ModalitySpec, kinds: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``spec.kind`` is one of ``kinds``."""
    if spec.kind in kinds:
        return
    wanted = " or ".join(f"'{kind}'" for kind in kinds)
    hint = f" ({_HINTS[kinds[0]]})" if len(kinds) == 1 and kinds[0] in _HINTS else ""
    raise ValueError(f"{name} expects a {wanted} input{hint}, got '{spec.kind}'")


def _sample_rate(name: str, spec: ModalitySpec) -> float:
    if spec.sample_rate is None or spec.sample_rate <= 0:
        raise ValueError(
            f"{name} needs the waveform's sample_rate, but the input spec has none"
            " (the datamodule should describe its audio with a sample_rate)"
        )
    return float(spec.sample_rate)


def _samples(name: str, what: str, milliseconds: float, sample_rate: float) -> int:
    count = int(round(milliseconds * sample_rate / 1000.0))
    if count < 1:
        raise ValueError(f"{name}: {what} of {milliseconds} ms is less than one sample at {sample_rate:g} Hz")
    return count


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    """A float drawn uniformly from ``[low, high]`` with ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator))


def _at_least(waveform: Tensor, length: int) -> Tensor:
    """Zero-pad ``waveform (T,)`` at the end to at least ``length`` samples."""
    if waveform.shape[-1] >= length:
        return waveform
    return torch.nn.functional.pad(waveform, (0, length - waveform.shape[-1]))


class _RateDependent(Transform):
    """A transform whose output depends on the input's sample rate, which its cache key records."""

    _input_rate: float | None = None

    def _input_sample_rate(self, spec: ModalitySpec) -> float:
        self._input_rate = _sample_rate(self.name, spec)
        return self._input_rate

    def cache_key(self) -> str:
        return f"{super().cache_key()}@{self._input_rate}Hz"


class Resample(_RateDependent):
    """Resample a waveform to a new sample rate (band-limited sinc interpolation, torchaudio).

    ``(T,)`` at the input spec's rate becomes ``(ceil(T * sample_rate / input_rate),)``.

    Args:
        sample_rate: the target sample rate in Hz.
    """

    name = "resample"
    input_kinds: tuple[str, ...] = ("waveform",)

    def __init__(self, sample_rate: PositiveInt = 16000) -> None:
        if sample_rate <= 0:
            raise ValueError(f"resample: sample_rate must be positive, got {sample_rate}")
        self.sample_rate = sample_rate
        self._resampler: torchaudio.transforms.Resample | None = None

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        source = self._input_sample_rate(input_spec)
        if source != int(source):
            raise ValueError(f"resample: the input sample_rate must be a whole number of Hz, got {source}")
        self._resampler = None
        if int(source) != self.sample_rate:
            self._resampler = torchaudio.transforms.Resample(int(source), self.sample_rate)
        return dataclasses.replace(input_spec, sample_rate=float(self.sample_rate))

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        if self._resampler is None:
            return value
        with torch.no_grad():
            return self._resampler(value)


class PreEmphasis(Transform):
    """Pre-emphasis filter ``y[t] = x[t] - coefficient * x[t - 1]`` (``y[0] = x[0]``) on ``(T,)``.

    Args:
        coefficient: the filter coefficient, in ``[0, 1]`` and usually between 0.9 and 1.0.
    """

    name = "pre_emphasis"
    input_kinds: tuple[str, ...] = ("waveform",)

    def __init__(self, coefficient: Annotated[float, Range(ge=0, le=1)] = 0.97) -> None:
        self.coefficient = coefficient

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        return input_spec

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        return torchaudio.functional.preemphasis(value, self.coefficient)


class Frame(_RateDependent):
    """Cut a waveform ``(T,)`` into windowed frames ``(T', frame_length)``.

    ``frame_length`` and the hop are ``frame_ms`` and ``hop_ms`` in samples. The end is
    zero-padded so that every sample lands in a frame: ``T' = 1 + ceil(max(T - frame_length, 0) /
    hop)``. The output spec's ``sample_rate`` is frames per second.

    Args:
        frame_ms: frame length in milliseconds.
        hop_ms: distance between frame starts in milliseconds.
        window: ``hann`` (periodic), ``hamming`` (periodic) or ``rectangular`` (no windowing).
    """

    name = "frame"
    input_kinds: tuple[str, ...] = ("waveform",)

    def __init__(
        self,
        frame_ms: PositiveFloat = 25.0,
        hop_ms: PositiveFloat = 10.0,
        window: Literal["hann", "hamming", "rectangular"] = "hann",
    ) -> None:
        if frame_ms <= 0 or hop_ms <= 0:
            raise ValueError(f"frame: frame_ms and hop_ms must be positive, got {frame_ms} and {hop_ms}")
        self.frame_ms = frame_ms
        self.hop_ms = hop_ms
        self.window = window
        self._length = 0
        self._hop = 0
        self._window: Tensor | None = None

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        rate = self._input_sample_rate(input_spec)
        self._length = _samples(self.name, "frame_ms", self.frame_ms, rate)
        self._hop = _samples(self.name, "hop_ms", self.hop_ms, rate)
        if self.window == "hann":
            self._window = torch.hann_window(self._length)
        elif self.window == "hamming":
            self._window = torch.hamming_window(self._length)
        else:
            self._window = None
        return dataclasses.replace(input_spec, kind="features", feature_dim=self._length, sample_rate=rate / self._hop)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        if self._length == 0:
            raise RuntimeError("frame: setup() must run before the transform is applied")
        count = 1 + math.ceil(max(value.shape[0] - self._length, 0) / self._hop)
        padded = _at_least(value, (count - 1) * self._hop + self._length)
        frames = padded.unfold(0, self._length, self._hop)  # (T', frame_length)
        return frames * self._window if self._window is not None else frames.clone()


class _MelOptions(_RateDependent):
    """Shared validation of the mel-spectrogram options of ``log_mel`` and ``mfcc``."""

    input_kinds: tuple[str, ...] = ("waveform",)

    def _set_mel_options(
        self, n_mels: int, n_fft: int, hop_ms: float, win_ms: float, f_min: float, f_max: float | None
    ) -> None:
        """Store the mel-spectrogram options and check them (``ValueError`` on a bad value)."""
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_ms = hop_ms
        self.win_ms = win_ms
        self.f_min = f_min
        self.f_max = f_max
        if self.n_mels < 1 or self.n_fft < 2:
            raise ValueError(f"{self.name}: n_mels must be >= 1 and n_fft >= 2, got {self.n_mels} and {self.n_fft}")
        if self.hop_ms <= 0 or self.win_ms <= 0:
            raise ValueError(f"{self.name}: hop_ms and win_ms must be positive, got {self.hop_ms} and {self.win_ms}")
        if self.f_max is not None and self.f_max <= self.f_min:
            raise ValueError(f"{self.name}: f_max ({self.f_max}) must be above f_min ({self.f_min})")

    def _mel_settings(self, input_spec: ModalitySpec) -> tuple[float, dict[str, object]]:
        """``(frames per second, MelSpectrogram keyword arguments)`` for the input's sample rate."""
        _expect_kind(self.name, input_spec, self.input_kinds)
        rate = self._input_sample_rate(input_spec)
        win_length = _samples(self.name, "win_ms", self.win_ms, rate)
        hop_length = _samples(self.name, "hop_ms", self.hop_ms, rate)
        if win_length > self.n_fft:
            raise ValueError(
                f"{self.name}: the window ({self.win_ms} ms = {win_length} samples at {rate:g} Hz) is longer"
                f" than n_fft ({self.n_fft}); raise n_fft or lower win_ms"
            )
        nyquist = rate / 2
        if (self.f_max or nyquist) > nyquist or self.f_min >= nyquist:
            raise ValueError(
                f"{self.name}: f_min/f_max ({self.f_min}/{self.f_max}) must lie below the Nyquist"
                f" frequency {nyquist:g} Hz of the input"
            )
        settings: dict[str, object] = {
            "sample_rate": int(round(rate)),
            "n_fft": self.n_fft,
            "win_length": win_length,
            "hop_length": hop_length,
            "f_min": self.f_min,
            "f_max": self.f_max,
            "n_mels": self.n_mels,
        }
        return rate / hop_length, settings


class LogMel(_MelOptions):
    """Log mel filterbank energies: waveform ``(T,)`` -> features ``(frames, n_mels)``.

    A centred STFT (power spectrum, Hann window) through an HTK mel filterbank, then
    ``log(mel + 1e-6)``. ``frames = 1 + T // hop`` (waveforms shorter than ``n_fft / 2`` are
    zero-padded first). The output spec's ``sample_rate`` is frames per second.

    Args:
        n_mels: number of mel bands (the feature width).
        n_fft: FFT size in samples.
        hop_ms: hop between frames in milliseconds.
        win_ms: analysis window length in milliseconds (at most ``n_fft`` samples).
        f_min: lowest filterbank frequency in Hz.
        f_max: highest filterbank frequency in Hz (default: half the sample rate).
    """

    name = "log_mel"

    def __init__(
        self,
        n_mels: PositiveInt = 80,
        n_fft: Annotated[int, Range(ge=2)] = 400,
        hop_ms: PositiveFloat = 10.0,
        win_ms: PositiveFloat = 25.0,
        f_min: NonNegativeFloat = 0.0,
        f_max: PositiveFloat | None = None,
    ) -> None:
        self._set_mel_options(n_mels, n_fft, hop_ms, win_ms, f_min, f_max)
        self._mel: torchaudio.transforms.MelSpectrogram | None = None

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        frame_rate, settings = self._mel_settings(input_spec)
        self._mel = torchaudio.transforms.MelSpectrogram(**settings)  # type: ignore[arg-type]
        return dataclasses.replace(input_spec, kind="features", feature_dim=self.n_mels, sample_rate=frame_rate)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        if self._mel is None:
            raise RuntimeError("log_mel: setup() must run before the transform is applied")
        with torch.no_grad():
            mel = self._mel(_at_least(value, self.n_fft // 2 + 1))  # (n_mels, frames)
        return torch.log(mel + 1e-6).T.contiguous()


class Mfcc(_MelOptions):
    """Mel-frequency cepstral coefficients: waveform ``(T,)`` -> features ``(frames, n_mfcc)``.

    torchaudio's MFCC: the mel power spectrogram of :class:`LogMel` in decibels (floored 80 dB
    below its maximum), then an orthonormal DCT-II over the mel bands. Coefficient 0 is the
    overall level.

    Args:
        n_mfcc: number of coefficients kept (the feature width), at most ``n_mels``.
        n_mels: number of mel bands before the DCT.
        n_fft: FFT size in samples.
        hop_ms: hop between frames in milliseconds.
        win_ms: analysis window length in milliseconds (at most ``n_fft`` samples).
        f_min: lowest filterbank frequency in Hz.
        f_max: highest filterbank frequency in Hz (default: half the sample rate).
    """

    name = "mfcc"

    def __init__(
        self,
        n_mfcc: PositiveInt = 13,
        n_mels: PositiveInt = 40,
        n_fft: Annotated[int, Range(ge=2)] = 400,
        hop_ms: PositiveFloat = 10.0,
        win_ms: PositiveFloat = 25.0,
        f_min: NonNegativeFloat = 0.0,
        f_max: PositiveFloat | None = None,
    ) -> None:
        self.n_mfcc = n_mfcc
        self._set_mel_options(n_mels, n_fft, hop_ms, win_ms, f_min, f_max)
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"mfcc: n_mfcc must be between 1 and n_mels ({n_mels}), got {n_mfcc}")
        self._mfcc: torchaudio.transforms.MFCC | None = None

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        frame_rate, settings = self._mel_settings(input_spec)
        rate = settings.pop("sample_rate")
        self._mfcc = torchaudio.transforms.MFCC(
            sample_rate=rate,  # type: ignore[arg-type]
            n_mfcc=self.n_mfcc,
            norm="ortho",
            log_mels=False,
            melkwargs=settings,
        )
        return dataclasses.replace(input_spec, kind="features", feature_dim=self.n_mfcc, sample_rate=frame_rate)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        if self._mfcc is None:
            raise RuntimeError("mfcc: setup() must run before the transform is applied")
        with torch.no_grad():
            return self._mfcc(_at_least(value, self.n_fft // 2 + 1)).T.contiguous()


class AudioNormalize(Transform):
    """Per-utterance normalization of features ``(T, F)`` or waveforms ``(T,)``.

    ``mean_var`` gives every feature column (or the waveform) zero mean and unit (population)
    variance over time; a constant column becomes zeros. ``peak`` scales a waveform so that its
    largest absolute sample is ``10 ** (target_db / 20)``; ``rms`` scales it so that its RMS is
    that level. ``auto`` is ``mean_var`` for features and ``peak`` for waveforms. Silence stays
    silence.

    Args:
        mode: ``auto``, ``mean_var``, ``peak`` (waveforms) or ``rms`` (waveforms).
        target_db: level in dB relative to 1.0 for ``peak`` and ``rms``.
    """

    name = "normalize"
    input_kinds: tuple[str, ...] = ("features", "waveform")

    def __init__(self, mode: Literal["auto", "mean_var", "peak", "rms"] = "auto", target_db: float = 0.0) -> None:
        self.mode = mode
        self.target_db = target_db
        self._resolved = mode

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        if input_spec.kind == "image":
            raise ValueError("normalize expects a 'features' or 'waveform' input; for images use 'image_normalize'")
        _expect_kind(self.name, input_spec, self.input_kinds)
        if input_spec.kind == "features" and self.mode in ("peak", "rms"):
            raise ValueError(f"normalize: mode '{self.mode}' is for waveforms; features take 'mean_var' (or 'auto')")
        if self.mode == "auto":
            self._resolved = "mean_var" if input_spec.kind == "features" else "peak"
        else:
            self._resolved = self.mode
        return input_spec

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        eps = 1e-8
        if value.numel() == 0:
            return value.clone()
        if self._resolved == "mean_var":
            mean = value.mean(dim=0, keepdim=True)
            std = value.std(dim=0, unbiased=False, keepdim=True)
            return (value - mean) / std.clamp_min(eps) * (std > eps)
        level = 10.0 ** (self.target_db / 20.0)
        current = value.abs().max() if self._resolved == "peak" else value.pow(2).mean().sqrt()
        if current <= eps:
            return value.clone()
        return value * (level / current)


class SpecAugment(Transform):
    """SpecAugment masking of features ``(T, F)``: zero random time spans and frequency bands.

    Each of the ``time_masks`` masks covers ``w ~ U{0..min(time_mask_max, T)}`` consecutive frames
    starting at ``U{0..T - w}`` (likewise for frequency bins). Masked values are set to zero, which
    is the utterance mean once features are mean/variance normalized (put ``normalize`` first);
    ``fill: mean`` uses the utterance's mean value instead. Masks may overlap. The input is not
    modified. Draws come from the generator, in the order of :meth:`draw_masks`.

    Args:
        time_masks: number of time masks.
        time_mask_max: widest time mask, in frames.
        freq_masks: number of frequency masks.
        freq_mask_max: widest frequency mask, in bins.
        fill: ``zero`` or ``mean`` (the mean of the whole input).
    """

    name = "spec_augment"
    input_kinds: tuple[str, ...] = ("features",)
    random = True

    def __init__(
        self,
        time_masks: NonNegativeInt = 2,
        time_mask_max: NonNegativeInt = 20,
        freq_masks: NonNegativeInt = 2,
        freq_mask_max: NonNegativeInt = 10,
        fill: Literal["zero", "mean"] = "zero",
    ) -> None:
        if min(time_masks, time_mask_max, freq_masks, freq_mask_max) < 0:
            raise ValueError("spec_augment: mask counts and widths must not be negative")
        self.time_masks = time_masks
        self.time_mask_max = time_mask_max
        self.freq_masks = freq_masks
        self.freq_mask_max = freq_mask_max
        self.fill = fill

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        return input_spec

    @staticmethod
    def _span(length: int, widest: int, generator: torch.Generator) -> tuple[int, int]:
        width = int(torch.randint(0, min(widest, length) + 1, (), generator=generator))
        start = int(torch.randint(0, length - width + 1, (), generator=generator))
        return start, start + width

    def draw_masks(
        self, frames: int, bins: int, generator: torch.Generator
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The ``[start, end)`` spans to mask: ``(time spans, frequency spans)``."""
        time = [self._span(frames, self.time_mask_max, generator) for _ in range(self.time_masks)]
        freq = [self._span(bins, self.freq_mask_max, generator) for _ in range(self.freq_masks)]
        return time, freq

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        time, freq = self.draw_masks(value.shape[0], value.shape[1], generator)
        out = value.clone()
        fill = value.mean() if (self.fill == "mean" and value.numel()) else 0.0
        for start, end in time:
            out[start:end, :] = fill
        for start, end in freq:
            out[:, start:end] = fill
        return out


class AddNoise(Transform):
    """Add white or pink noise to a waveform ``(T,)`` at a random signal-to-noise ratio.

    The SNR is drawn uniformly from ``snr_db`` (first draw), then a noise signal of the same
    length (white: Gaussian; pink: Gaussian shaped to a ``1/f`` power spectrum, no DC) is scaled
    by torchaudio so that ``10 log10(sum(x^2) / sum(noise^2))`` equals the drawn SNR exactly.
    A silent waveform is returned unchanged.

    Args:
        snr_db: ``[low, high]`` range of the signal-to-noise ratio in dB.
        noise: ``white`` or ``pink``.
    """

    name = "add_noise"
    input_kinds: tuple[str, ...] = ("waveform",)
    random = True

    def __init__(
        self,
        snr_db: list[float] = [5.0, 30.0],  # noqa: B006 (copied, never mutated)
        noise: Literal["white", "pink"] = "white",
    ) -> None:
        if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
            raise ValueError(f"add_noise: snr_db must be [low, high] with low <= high, got {snr_db}")
        self.snr_db = [float(v) for v in snr_db]
        self.noise = noise

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        return input_spec

    def draw_snr(self, generator: torch.Generator) -> float:
        """The SNR in dB for one example (the first draw of :meth:`__call__`)."""
        return _uniform(self.snr_db[0], self.snr_db[1], generator)

    def make_noise(self, length: int, generator: torch.Generator) -> Tensor:
        """Unscaled noise ``(length,)`` of the configured colour."""
        return gaussian_noise(length, self.noise, generator)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        snr = self.draw_snr(generator)
        noise = self.make_noise(value.shape[0], generator).to(value.dtype)
        if not value.abs().sum() > 0 or not noise.abs().sum() > 0:
            return value.clone()
        snr_tensor = torch.tensor([snr], dtype=value.dtype)
        return torchaudio.functional.add_noise(value.unsqueeze(0), noise.unsqueeze(0), snr_tensor)[0]


class Gain(Transform):
    """Scale a waveform ``(T,)`` by a random gain drawn uniformly from ``[min_db, max_db]`` dB.

    Args:
        min_db: smallest gain in dB.
        max_db: largest gain in dB.
    """

    name = "gain"
    input_kinds: tuple[str, ...] = ("waveform",)
    random = True

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0) -> None:
        if min_db > max_db:
            raise ValueError(f"gain: min_db ({min_db}) must not exceed max_db ({max_db})")
        self.min_db = min_db
        self.max_db = max_db

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_kind(self.name, input_spec, self.input_kinds)
        return input_spec

    def draw_gain_db(self, generator: torch.Generator) -> float:
        """The gain in dB for one example (the only draw of :meth:`__call__`)."""
        return _uniform(self.min_db, self.max_db, generator)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        return torchaudio.functional.gain(value, self.draw_gain_db(generator))
