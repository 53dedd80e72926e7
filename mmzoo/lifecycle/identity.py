"""Which runs belong to a recipe: a fingerprint of the model and data parts of the resolved recipe.

Two recipes can share a run group (``run.name``) and still build different models: an override such
as ``model.fusion.dim=32``, or two recipes that kept the same ``run.name``. "The newest run"
(``--resume last``, ``--ckpt last`` and ``--ckpt best`` with a recipe file) is therefore the newest run
of the group whose fingerprint matches the recipe's; when none matches, the error lists the runs
there and how each one differs.

The fingerprint is taken of the full form that ``recipe.yaml`` saves (every component's defaults spelt
out; see :func:`mmzoo.recipe.with_component_defaults`), so writing a default explicitly does not
change it. It covers what a checkpoint depends on: ``model``, ``transforms``, ``objectives``,
``weighting`` and, of ``data``, the datamodule's ``name``, ``modalities`` and ``targets``. Paths,
batch sizes, the trainer, the optimizer and the loggers can change without changing it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["fingerprint", "identity_of", "differences", "run_fingerprint", "IDENTITY_KEYS"]

#: The parts of a recipe a checkpoint depends on (dotted keys).
IDENTITY_KEYS: tuple[str, ...] = (
    "model",
    "transforms",
    "objectives",
    "weighting",
    "data.name",
    "data.modalities",
    "data.targets",
)


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def identity_of(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a resolved recipe (plain YAML data) that the fingerprint covers."""
    return {key: _get(data, key) for key in IDENTITY_KEYS}


def fingerprint(data: dict[str, Any]) -> str:
    """A short hash of :func:`identity_of` (key order and YAML formatting do not matter)."""
    text = json.dumps(identity_of(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_fingerprint(run_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """A run directory's fingerprint and recipe, from the ``recipe.yaml`` it saved (``None`` if unreadable)."""
    try:
        data = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    return fingerprint(data), data


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: node}


def differences(mine: dict[str, Any], theirs: dict[str, Any], limit: int = 4) -> list[str]:
    """How another recipe's identity differs from this one's, as ``key: theirs -> mine`` lines."""
    a, b = _flatten(identity_of(theirs)), _flatten(identity_of(mine))
    changed = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key))
    lines = [f"{key}: {a.get(key, '(absent)')!r} there, {b.get(key, '(absent)')!r} here" for key in changed[:limit]]
    if len(changed) > limit:
        lines.append(f"and {len(changed) - limit} more")
    return lines
