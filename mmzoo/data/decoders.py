"""Decode the files a manifest points at: audio with soundfile, images with Pillow, text files.

Decoders raise :class:`DecodeError` with a short reason; the datamodule adds the manifest, line and
field. They are deliberately small: everything after decoding is a transform.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mmzoo.data.wav_header import wav_data

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

__all__ = ["DecodeError", "decode_audio", "probe_audio", "decode_image", "probe_image", "read_text_file"]


class DecodeError(Exception):
    """A file exists but cannot be decoded (the message says why)."""


def probe_audio(path: Path) -> None:
    """Cheap check that ``path`` is a readable audio file with at least one frame.

    A WAV file whose samples stop before the size its header declares is refused too (libsndfile
    would read what is there without a word).
    """
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DecodeError(f"not a readable audio file ({exc})") from None
    data = wav_data(path) if info.format in ("WAV", "WAVEX") else None
    if data is not None and data.cut_short:
        raise DecodeError(
            f"the WAV file is cut short: its header declares {data.declared:,} bytes of samples, the file holds"
            f" {data.present:,} ({info.frames / info.samplerate:.2f} s of audio); copy or export it again"
        )
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


def _open_image(path: Path, max_pixels: int | None) -> PilImage:
    """Open an image, reading its header only, and refuse it when it is too large to decode.

    Too large: more than ``max_pixels`` pixels (``None``: no limit of ours), or more than Pillow's
    own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), which holds either way.

    Raises:
        DecodeError: the image is too large.
    """
    from PIL import Image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise DecodeError(f"the image is too large for Pillow to decode ({exc})") from None
    bomb = False
    for warning in caught:  # pass on every other warning
        if issubclass(warning.category, Image.DecompressionBombWarning):
            bomb = True
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        image.close()
        raise DecodeError(
            f"the image is {width}x{height} ({width * height:,} pixels), more than data.max_image_pixels"
            f" ({max_pixels:,}); shrink it, or raise data.max_image_pixels (null turns the limit off)"
        )
    if bomb:
        image.close()
        raise DecodeError(
            f"the image is {width}x{height} ({width * height:,} pixels), more than Pillow decodes without a"
            f" decompression-bomb warning (PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}); shrink it"
        )
    return image


def probe_image(path: Path, max_pixels: int | None = None) -> None:
    """Cheap check that ``path`` is an image Pillow can identify, of at most ``max_pixels`` pixels.

    Only the header is read for the size, before anything is decoded.
    """
    from PIL import UnidentifiedImageError

    try:
        with _open_image(path, max_pixels) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"not a readable image ({exc})") from None


def decode_image(path: Path, channels: int = 3, max_pixels: int | None = None) -> Tensor:
    """Read an image as float32 ``(channels, H, W)`` in ``[0, 1]`` (RGB for 3 channels, L for 1).

    Raises:
        DecodeError: the image cannot be decoded, or has more than ``max_pixels`` pixels (or more
            than Pillow's decompression-bomb limit): checked from its header, before decoding.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_image(path, max_pixels) as image:
            converted = image.convert("RGB" if channels == 3 else "L")
            array = np.asarray(converted, dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
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
