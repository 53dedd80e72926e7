"""How well the report's ranking finds the unusable rows, when the rows' true labels are known.

A data team reads the report from the top: what matters is how many of the first ``k`` rows are
really unusable (precision at ``k``) and how many of all unusable rows those ``k`` hold (recall at
``k``). Rows are ranked by ``suspicion``, highest first, and rows of equal suspicion by ``margin``
(the same belief as unbounded log-odds, so saturated scores still have an order); rows equal in
both keep their order in the report. ``k`` runs over :data:`TOP_K` below the number of labelled rows, plus ``R`` (the
number of unusable rows: there, precision equals recall) and all rows.

Per defect label, the precision-recall curve of that label's probability against "is this label"
shows how cleanly the model separates it (scikit-learn's ``precision_recall_curve`` and
``average_precision_score``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TOP_K", "rank_key", "ranking_quality", "ranking_rows", "ranking_sentence", "pr_figure"]

TOP_K: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000)


def rank_key(row: Mapping[str, Any]) -> tuple[float, float]:
    """Sort key that puts the most suspicious row first: suspicion, then margin, both descending."""
    margin = row.get("margin")
    return -(row.get("suspicion") or 0.0), -(margin if margin is not None else float("-inf"))


def _labelled(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [row for row in rows if row.get("true_label") is not None]


def ranking_quality(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, Any] | None:
    """Precision and recall at ``k`` of the suspicion ranking (see the module docstring).

    Returns:
        ``{"labelled": n, "unusable": R, "at_k": [{"k", "precision", "recall"}, ...]}``, or ``None``
        when no row has a true label or the labels have no ``ok`` (nothing says what is usable).
    """
    labelled = _labelled(rows)
    if not labelled or "ok" not in labels:
        return None
    ranked = sorted(labelled, key=rank_key)
    bad = [row["true_label"] != "ok" for row in ranked]
    unusable = sum(bad)
    sizes = sorted({k for k in TOP_K if k < len(ranked)} | {len(ranked)} | ({unusable} if unusable else set()))
    at_k = [
        {
            "k": k,
            "precision": round(sum(bad[:k]) / k, 4),
            "recall": round(sum(bad[:k]) / unusable, 4) if unusable else None,
        }
        for k in sizes
    ]
    return {"labelled": len(ranked), "unusable": unusable, "at_k": at_k}


def ranking_sentence(ranking: Mapping[str, Any]) -> str:
    """What the precision/recall-at-k table of :func:`ranking_quality` shows, in one sentence."""
    return (
        f"{ranking['unusable']} of {ranking['labelled']} labelled rows are unusable (true label other than ok);"
        " precision and recall among the first k rows ranked by suspicion, highest first:"
    )


def ranking_rows(ranking: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of the precision/recall-at-k table of :func:`ranking_quality`."""
    return ["top k", "precision", "recall"], [[item["k"], item["precision"], item["recall"]] for item in ranking["at_k"]]


def pr_figure(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> Any | None:
    """Precision-recall curves, one per defect label that has positives among the labelled rows
    (``None`` when there is none): the label's probability ``probs[label]`` as the score."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    labelled = [row for row in _labelled(rows) if row.get("probs")]
    curves = []
    for label in labels:
        truth = [row["true_label"] == label for row in labelled]
        if label == "ok" or not any(truth) or all(truth):
            continue
        scores = [float(row["probs"].get(label, 0.0)) for row in labelled]
        precision, recall, _ = precision_recall_curve(truth, scores)
        curves.append((label, recall, precision, average_precision_score(truth, scores), sum(truth)))
    if not curves:
        return None
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4.2))
    for label, recall, precision, ap, count in curves:
        axes.step(recall, precision, where="post", label=f"{label} (AP {ap:.2f}, {count} rows)")
    axes.set_title(f"precision-recall per defect label ({len(labelled)} labelled rows)")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0.0, 1.02)
    axes.set_ylim(0.0, 1.02)
    axes.legend(fontsize="small", title="score: P(label)")
    figure.tight_layout()
    return figure
