"""An on-disk cache of decoded (and deterministically transformed) examples.

Entries are keyed on the file (absolute path, size and modification time), the decoder settings
and the cache key of the transforms applied before caching; any change gives a new key, so stale
entries are never read. Entries are written atomically (temporary file, then rename), so parallel
workers and interrupted runs cannot leave a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["FeatureCache"]


class FeatureCache:
    """Stores tensors under ``directory`` by key (safe to share between runs and workers)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(path: Path, *parts: str) -> str:
        stat = path.stat()
        material = "\0".join([str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *parts])
        return hashlib.sha256(material.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.pt"

    def get(self, key: str) -> Any | None:
        file = self._file(key)
        if not file.is_file():
            return None
        try:
            return torch.load(file, weights_only=True)
        except Exception:  # a corrupt entry is a miss; it is rewritten
            return None

    def put(self, key: str, value: Any) -> None:
        file = self._file(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
        os.close(handle)
        try:
            torch.save(value, temporary)
            os.replace(temporary, file)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
