"""Shared by the CTC tests: the labelling a CTC path stands for, for brute-force checks."""

from __future__ import annotations


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    """Merge repeated labels, then drop blanks (id 0): CTC's many-to-one map from paths to labellings."""
    labels = []
    previous = 0
    for label in path:
        if label != previous and label != 0:
            labels.append(label)
        previous = label
    return tuple(labels)
