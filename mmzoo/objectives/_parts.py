"""Parts the supervised objectives share: per-class loss weights, and metrics per modality alone
(``part_metrics``).

When a fusion returns per-modality parts, the module adds ``<head>@<modality>`` outputs; an
objective with ``part_metrics: [audio]`` then reports ``<metric>@audio`` next to ``<metric>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts.head import Head

__all__ = ["check_label_smoothing", "class_weight", "head_num_classes", "metrics_with_parts", "metric_outputs"]


def check_label_smoothing(label_smoothing: float) -> float:
    """``label_smoothing`` itself, after checking it lies in ``[0, 1)``.

    Raises:
        ValueError: it does not.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return label_smoothing


def head_num_classes(num_classes: int | None, heads: Mapping[str, Any] | None, head: str) -> int | None:
    """The objective's ``num_classes`` option, or else the scored head's :attr:`Head.num_classes`.

    ``None`` when neither is known (the head is not built yet, or does not score classes).
    """
    if num_classes is not None:
        return num_classes
    scored = (heads or {}).get(head)
    return scored.num_classes if isinstance(scored, Head) else None


def class_weight(
    option: str, weights: Sequence[float] | None, num_classes: int | None, head: str, classes: str
) -> Tensor | None:
    """A per-class loss weight option as the float32 tensor ``(C,)`` an objective keeps as a buffer.

    ``None`` (no weighting) stays ``None``; a buffer registered as ``None`` is left out of the
    state dict.

    Args:
        option: the option's name (``class_weights``, ``pos_weight``), for the error message.
        weights: one weight per class, or ``None``.
        num_classes: how many classes the head scores, when known.
        head: the head's name, for the error message.
        classes: what the head's outputs are called in the message (``classes``, ``labels``).

    Raises:
        ValueError: ``num_classes`` is known and ``weights`` has another length.
    """
    if weights is None:
        return None
    if num_classes is not None and len(weights) != num_classes:
        raise ValueError(f"{option} has {len(weights)} entries but head '{head}' has {num_classes} {classes}")
    return torch.tensor(weights, dtype=torch.float32)


def metrics_with_parts(
    factories: Mapping[str, Callable[[], Any]], names: Sequence[str], parts: Sequence[str]
) -> dict[str, Any]:
    """``{metric: Metric, "metric@part": Metric, ...}`` for the chosen metric names and parts."""
    made = {name: factories[name]() for name in names}
    made.update({f"{name}@{part}": factories[name]() for part in parts for name in names})
    return made


def metric_outputs(metrics: Any, outputs: Mapping[str, Any], head: str, objective: str) -> Iterator[tuple[Any, Any]]:
    """``(metric, head output)`` for every metric of a collection, per-part metrics included.

    Raises:
        KeyError: a per-part metric whose ``<head>@<modality>`` output does not exist.
    """
    for name, metric in metrics.items(keep_base=True):
        key = head if "@" not in name else f"{head}@{name.split('@', 1)[1]}"
        if key not in outputs:
            raise KeyError(
                f"{objective} part_metrics: no output '{key}'; the fusion must return per-modality parts"
                " (e.g. fusion 'late') for the modalities listed"
            )
        yield metric, outputs[key]
