"""Metrics per modality alone (``part_metrics``), shared by the supervised objectives.

When a fusion returns per-modality parts, the module adds ``<head>@<modality>`` outputs; an
objective with ``part_metrics: [audio]`` then reports ``<metric>@audio`` next to ``<metric>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["metrics_with_parts", "metric_outputs"]


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
