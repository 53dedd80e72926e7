"""How much sample data a WAV file's header declares, against how much the file holds.

libsndfile reads a WAV whose data chunk stops before the size its header declares (a partial copy,
an interrupted write) without complaint: it reports the frames that are there. Comparing the
declared size with the bytes on disk is the only way to tell such a file from an intact one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WavData", "wav_data"]

#: Data chunk sizes that mean "not known when the header was written" (streamed WAVs): not checked.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class WavData:
    """The data chunk of a RIFF WAV file.

    Attributes:
        declared: bytes of samples its header declares.
        present: bytes of samples the file holds after the chunk header.
        block_align: bytes per frame (per block for compressed encodings), from the ``fmt`` chunk.
    """

    declared: int
    present: int
    block_align: int

    @property
    def cut_short(self) -> bool:
        """A frame (or block) the header declares is missing from the file, in whole or in part."""
        unit = max(self.block_align, 1)
        return self.present // unit < self.declared // unit


def wav_data(path: Path) -> WavData | None:
    """The data chunk of a RIFF (little-endian) or RIFX (big-endian) WAV file.

    Returns:
        ``None`` for anything else (another format, RF64, whose sizes live elsewhere), a data chunk
        of unknown size, or a file whose chunks end before a data chunk.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        order = {b"RIFF": "<", b"RIFX": ">"}.get(head[:4])
        if len(head) < 12 or order is None or head[8:12] != b"WAVE":
            return None
        block_align = 0
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            ident, length = struct.unpack(f"{order}4sI", handle.read(8))
            if ident == b"fmt " and length >= 14:
                fmt = handle.read(14)
                block_align = struct.unpack(f"{order}H", fmt[12:14])[0] if len(fmt) == 14 else 0
            elif ident == b"data":
                if length in _UNKNOWN_SIZES:
                    return None
                return WavData(declared=length, present=size - offset - 8, block_align=block_align)
            offset += 8 + length + (length & 1)  # chunks are padded to an even size
    return None
