"""Decode the files a manifest points at: audio with soundfile, images with Pillow, text files.

Decoders raise :class:`DecodeError` with a short reason; the datamodule adds the manifest, line and
field. They are deliberately small: everything after decoding is a transform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["DecodeError", "decode_audio", "probe_audio", "decode_image", "probe_image", "read_text_file"]


class DecodeError(Exception):
    """A file exists but cannot be decoded (the message says why)."""


def probe_audio(path: Path) -> None:
    """Cheap check that ``path`` is a readable audio file with at least one frame."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DecodeError(f"not a readable audio file ({exc})") from None
    if info.frames <= 0:
        raise DecodeError("the audio file holds no samples")


def decode_audio(path: Path, sample_rate: int) -> Tensor:
    """Read an audio file (WAV, FLAC, OGG...) as mono float32 at ``sample_rate``.

    Channels are averaged; the signal is resampled with ``torchaudio.functional.resample`` when the
    file's rate differs.

    Returns:
        ``(T,)`` float32 waveform in ``[-1, 1]``.
    """
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DecodeError(f"cannot decode audio ({exc})") from None
    if data.shape[0] == 0:
        raise DecodeError("the audio file holds no samples")
    if not np.isfinite(data).all():
        raise DecodeError("the audio holds NaN or infinite samples")
    waveform = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if rate != sample_rate:
        import torchaudio

        waveform = torchaudio.functional.resample(waveform, rate, sample_rate)
    return waveform


def probe_image(path: Path) -> None:
    """Cheap check that ``path`` is an image Pillow can identify."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"not a readable image ({exc})") from None


def decode_image(path: Path, channels: int = 3) -> Tensor:
    """Read an image as float32 ``(channels, H, W)`` in ``[0, 1]`` (RGB for 3 channels, L for 1)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            converted = image.convert("RGB" if channels == 3 else "L")
            array = np.asarray(converted, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"cannot decode image ({exc})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def read_text_file(path: Path) -> str:
    """Read a UTF-8 text file, stripped of surrounding whitespace."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
