"""What ran a run: software versions, the device, and the git commit of the recipe.

Each function returns plain JSON data, for the W&B config and ``run.json`` alike.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from mmzoo.registry import Registry

__all__ = ["cpu_name", "device_facts", "git_state", "plugin_versions", "software_versions"]


def plugin_versions(registry: Registry) -> dict[str, str | None]:
    """Each installed distribution that registers components -> its version.

    Components of plugins registered directly on a plugin manager (tests) have no distribution and
    are left out.
    """
    found: dict[str, str | None] = {}
    for entry in registry.entries():
        if entry.distribution:
            # Entry.distribution reads "<name> <version>".
            name, _, version = entry.distribution.partition(" ")
            found[name] = version or None
    return dict(sorted(found.items()))


def software_versions(registry: Registry) -> dict[str, Any]:
    """mmzoo, its plugins, Python, torch, Lightning, CUDA and cuDNN (``None`` without them), wandb."""
    import lightning
    import torch

    from mmzoo import __version__

    try:
        import wandb

        wandb_version: str | None = wandb.__version__
    except ImportError:
        wandb_version = None
    return {
        "mmzoo": __version__,
        "plugins": plugin_versions(registry),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "wandb": wandb_version,
    }


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux), else the processor or architecture name."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_facts(trainer: Any) -> dict[str, Any]:
    """The device a trainer runs on: its type and name, the machine's CPU count, how many processes
    and nodes, the precision."""
    import torch

    device = trainer.strategy.root_device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "type": device.type,
        "name": name,
        "cpus": os.cpu_count(),
        "processes": trainer.world_size,
        "nodes": trainer.num_nodes,
        "precision": str(trainer.precision),
    }


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            # A repository's own configuration could start programs (core.fsmonitor); not here.
            ["git", "-c", "core.fsmonitor=false", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def git_state(directory: Path) -> dict[str, Any] | None:
    """``{"commit": <sha>, "dirty": <bool>}`` of the git work tree holding ``directory``.

    ``dirty`` means tracked files differ from the commit (untracked files do not count). ``None``
    when ``directory`` is not in a git work tree or git is not installed.
    """
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}
