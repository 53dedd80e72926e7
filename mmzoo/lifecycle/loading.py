"""Reading checkpoints without running code from them.

A ``.ckpt`` file is a pickle, and a pickle can call any Python function while it loads. mmzoo loads
checkpoints with ``torch.load(weights_only=True)``, whose unpickler only builds tensors and plain
containers, plus the few types mmzoo's own checkpoints hold (:data:`SAFE_GLOBALS`). A file that needs
anything else is refused with a :class:`~mmzoo.errors.RunError` naming the type it asked for, before
any of it runs. ``checkpoint.trust: true`` (``--trust-checkpoint`` for one command) loads with the
full unpickler, for a file whose origin the user vouches for.

Sharded FSDP checkpoints are folders written by ``torch.distributed.checkpoint``: their ``.metadata``
file is a plain pickle that PyTorch loads with the full unpickler, so it is first read here with an
unpickler restricted to the checkpoint metadata classes (:class:`_MetadataUnpickler`).
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

from mmzoo.errors import RunError

__all__ = ["read_checkpoint", "SAFE_GLOBALS", "check_sharded_metadata"]

#: Types mmzoo's checkpoints contain beyond what ``weights_only`` allows by default: ``pathlib``
#: paths, which Lightning stores in some callback states.
SAFE_GLOBALS: tuple[Any, ...] = (Path, type(Path()))

_METADATA = ".metadata"
_LIGHTNING_META = "meta.pt"

#: Modules whose classes may appear in a sharded checkpoint's ``.metadata`` pickle.
_METADATA_MODULES = ("torch.distributed.checkpoint.metadata", "torch.distributed.checkpoint.planner")
_METADATA_GLOBALS = {
    ("torch", "Size"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch.distributed.checkpoint.filesystem", "_StoragePrefix"),
    ("torch.serialization", "_get_layout"),  # looks a tensor layout up by name
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
}


class _MetadataUnpickler(pickle.Unpickler):
    """Builds only checkpoint-metadata dataclasses, torch sizes and dtypes, and plain containers."""

    def find_class(self, module: str, name: str) -> Any:
        import torch

        allowed = (
            module in _METADATA_MODULES
            or (module, name) in _METADATA_GLOBALS
            or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype))
        )
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not checkpoint metadata")
        return super().find_class(module, name)


def _untrusted(path: Path, why: str) -> RunError:
    return RunError(
        f"checkpoint {path} needs more than plain tensors and containers to load ({why}); mmzoo refuses to"
        " unpickle it because loading such a file can run any code stored in it",
        hint="if you trust where this file comes from, pass --trust-checkpoint (or set checkpoint.trust: true)",
    )


def check_sharded_metadata(folder: Path) -> None:
    """Refuse a sharded checkpoint whose ``.metadata`` pickle holds anything but checkpoint metadata."""
    metadata = folder / _METADATA
    if not metadata.is_file():
        raise RunError(
            f"{folder} is a folder but not a sharded checkpoint (no {_METADATA} file)",
            hint="pass a .ckpt file, a sharded checkpoint folder written by mmzoo, or a run directory with --ckpt last",
        )
    try:
        with open(metadata, "rb") as handle:
            _MetadataUnpickler(handle).load()
    except pickle.UnpicklingError as exc:
        raise _untrusted(folder, str(exc)) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise RunError(f"checkpoint {folder} cannot be read: {type(exc).__name__}: {exc}") from exc


def _load_file(path: Path, trust: bool) -> Any:
    import torch

    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            # The restricted unpickler says "GLOBAL module.name" for a type it refuses; any other
            # unpickling error is a damaged or foreign file.
            refused = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
            if refused:
                raise _untrusted(path, refused[0]) from exc
            raise


def read_checkpoint(path: Path, *, trust: bool = False) -> Any:
    """A checkpoint's contents: a ``.ckpt`` file, or the folder a sharded FSDP run writes.

    A sharded checkpoint is gathered into one full state dict in this process (no process group
    needed), so that any strategy and any number of processes can load it.

    Raises:
        RunError: the file is not a checkpoint, cannot be read, or needs untrusted types.
    """
    if path.is_dir():
        if not trust:
            check_sharded_metadata(path)
            if (path / _LIGHTNING_META).is_file():
                _load_file(path / _LIGHTNING_META, trust=False)
        from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

        with tempfile.TemporaryDirectory() as scratch:
            full = Path(scratch) / "full.pt"
            try:
                dcp_to_torch_save(path, full)
            except Exception as exc:  # a damaged folder can fail anywhere inside the DCP reader
                raise RunError(f"checkpoint {path} cannot be read: {type(exc).__name__}: {exc}") from exc
            return _load_file(full, trust)
    try:
        return _load_file(path, trust)
    except RunError:
        raise
    except Exception as exc:
        raise RunError(
            f"checkpoint {path} cannot be read: {type(exc).__name__}: {exc}",
            hint="pass a checkpoint mmzoo wrote (runs/<name>/<run>/checkpoints/*.ckpt)",
        ) from exc
