"""The random-number generators' states, carried in every checkpoint for an exact resume.

Data randomness in mmzoo never depends on process state (each example draws from a generator seeded
with ``(seed, epoch, index)``, see :mod:`mmzoo.data.loader`), but the model does: dropout and any
sampling inside a training step draw from the process's global generators. :class:`RandomState`
stores Python's, NumPy's, torch's CPU and every CUDA device's generator state in each checkpoint, one
set per process, and a resumed run puts them back right before its first training step, after
Lightning's own start-up (sanity validation, loader set-up) has drawn whatever it draws.
"""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

__all__ = ["RandomState", "capture", "restore"]


def _bytes(state: torch.Tensor) -> bytes:
    return state.cpu().numpy().tobytes()


def _tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def capture() -> dict[str, Any]:
    """This process's generator states, as plain Python values (ints, bytes, lists): they load with
    ``weights_only`` and travel between processes as they are."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(gauss)],
        "torch": _bytes(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_bytes(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore(state: dict[str, Any]) -> None:
    """Set this process's generators to ``state`` (from :func:`capture`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_tensor(s) for s in state["cuda"]])


class RandomState(pl.Callback):
    """Stores every process's generator states in each checkpoint; restores them on resume."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    @property
    def state_key(self) -> str:
        return "mmzoo.RandomState"

    def state_dict(self) -> dict[str, Any]:
        # Every process runs this while a checkpoint is assembled; only the first process writes it.
        mine = capture()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, mine)
            return {"processes": gathered}
        return {"processes": [mine]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        processes = state_dict["processes"]
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        self._pending = processes[rank % len(processes)]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            restore(self._pending)
            self._pending = None
