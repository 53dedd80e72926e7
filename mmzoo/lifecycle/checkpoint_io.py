"""Atomic checkpoint writes that stop the run when they fail.

Lightning writes every checkpoint (the best ones, ``last.ckpt``, preemption saves) through the
strategy's ``CheckpointIO``. :class:`AtomicCheckpointIO` writes the file under a temporary name in
the same folder and renames it into place, so a reader (or a resumed run) never sees half a file,
whatever kills the process: a second SIGTERM during the save, SIGKILL, a full disk. A write that
fails raises :class:`~mmzoo.errors.RunError` at once, naming the path and the operating system's
reason, instead of training on without checkpoints.

Sharded FSDP checkpoints are folders; :func:`atomic_replace_dir` moves a completely written folder
into place (see :class:`mmzoo.scaling.fsdp.FSDPStrategy`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from mmzoo.errors import RunError
from mmzoo.lifecycle.loading import read_checkpoint
from mmzoo.lifecycle.names import OLD_SUFFIX

__all__ = ["AtomicCheckpointIO", "atomic_replace_dir", "write_failed"]


def write_failed(path: Path, exc: OSError) -> RunError:
    """The error for a checkpoint that could not be written."""
    reason = exc.strerror or str(exc)
    return RunError(
        f"cannot write checkpoint {path}: {reason}",
        hint="free disk space or make the run directory writable; checkpoints written before this one are kept,"
        " and the run can be resumed from the newest of them with --resume",
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file, then an atomic rename; reads with ``weights_only`` unless trusted.

    Args:
        trust: load checkpoints with the full unpickler (``checkpoint.trust`` / ``--trust-checkpoint``).
    """

    def __init__(self, trust: bool = False) -> None:
        super().__init__()
        self.trust = trust

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise write_failed(target, exc) from exc

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> Any:
        return read_checkpoint(Path(path), trust=self.trust if weights_only is None else not weights_only)


def atomic_replace_dir(written: Path, target: Path) -> None:
    """Move the completely written folder ``written`` to ``target``, replacing any folder or file there.

    Two renames: the old ``target`` to ``<target>.old``, then ``written`` to ``target``; the old one
    is deleted last. Between the renames only ``<target>.old`` exists, and readers fall back to it.
    """
    old = target.with_name(target.name + OLD_SUFFIX)
    try:
        if old.exists():
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        if target.exists():
            os.replace(target, old)
        os.replace(written, target)
        if old.exists():
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    except OSError as exc:
        raise write_failed(target, exc) from exc
