"""``mmzoo qc baseline``: the heuristic baseline on a speech QC recipe's own data.

A shallow decision tree over the hand-made features (:class:`~mmzoo.qc.heuristics.HeuristicBaseline`)
is fitted on the recipe's training split (the same corrupted stream the model trains on, one pass
of ``copies`` examples per row) and then labels another split. The result is a run directory laid
out like a model's predict run, so the two compare directly:

- ``baseline.json``: the fitted tree as JSON (load with :meth:`HeuristicBaseline.from_dict`);
- ``rules.txt`` (also in ``report/``): the tree as readable rules, so one can see why a row got its label;
- ``report/``: the QC report (see :mod:`mmzoo.qc.report`), with per-label precision, recall and F1
  where labels are known, and a note for every label with training rows that the tree never predicts;
- ``results.json``: the metrics, the labels never predicted and the training rows per label.

A row's probabilities in the report are its leaf's class-weighted shares of training rows, so its
suspicion is ``1 - P(ok)`` of that leaf.

Measuring every row takes minutes on a real corpus: both passes show their progress on standard
error (see :func:`mmzoo.console.track`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mmzoo.errors import RunError
from mmzoo.registry import Registry

__all__ = ["RULES_FILE", "run_baseline"]

RULES_FILE = "rules.txt"


def _rules_header(baseline: Any) -> list[str]:
    counts = ", ".join(f"{name} {n}" for name, n in baseline.train_counts.items())
    return [
        f"# heuristic baseline: decision tree (max_depth {baseline.max_depth},"
        f" min_samples_leaf {baseline.min_samples_leaf}, balanced class weights)",
        f"# training rows per label: {counts}",
        f"# labels never predicted: {', '.join(baseline.never_predicted) or 'none'}",
        "# a row follows the branches its features satisfy down to a 'class:' line",
    ]


def _notes(baseline: Any, labels: list[str]) -> list[str]:
    """Sentences for the report: labels the tree cannot predict, with the reason."""
    notes = []
    if baseline.never_predicted:
        notes.append(
            "the baseline never predicts "
            + ", ".join(f"{name} ({baseline.train_counts[name]} training rows)" for name in baseline.never_predicted)
            + ": no leaf of its tree has that label as its majority (see rules.txt)"
        )
    absent = [name for name in labels if name not in baseline.train_counts]
    if absent:
        notes.append(f"no training rows of {', '.join(absent)}: the baseline cannot predict them")
    return notes


def run_baseline(
    target: str | Path, overrides: list[str] | None = None, *, split: str = "test", registry: Registry | None = None
) -> Path:
    """Fit the heuristic baseline on a recipe's training split and report on ``split``.

    Args:
        target: a recipe file or run directory whose datamodule is ``speech_qc``.
        overrides: ``key=value`` recipe overrides.
        split: ``val``, ``test`` or ``predict`` (a corpus to screen, as it is by default).

    Returns:
        the run directory.
    """
    from mmzoo.build import build_datamodule
    from mmzoo.console import track
    from mmzoo.plugins import load_registry
    from mmzoo.qc.datamodule import SpeechQCDataModule
    from mmzoo.qc.heuristics import HeuristicBaseline, features
    from mmzoo.qc.report import ReportConfig, report_row, write_summary
    from mmzoo.recipe import load_recipe
    from mmzoo.run_dirs import RESULTS_FILE, create_run_dir, resolve_recipe_path

    if split not in ("val", "test", "predict"):
        raise RunError(f"split must be val, test or predict, got '{split}'")
    registry = registry or load_registry()
    recipe = load_recipe(resolve_recipe_path(target)[0], overrides, registry)
    datamodule = build_datamodule(recipe, registry)
    if not isinstance(datamodule, SpeechQCDataModule):
        raise RunError(
            f"the heuristic baseline needs the speech_qc datamodule; {recipe.source} uses '{recipe.datamodule.name}'",
            hint="run it on a recipe of recipes/speech_qc/",
        )
    datamodule.setup("fit")
    datamodule.setup({"val": "validate"}.get(split, split))
    rate = datamodule.sample_rate

    train = datamodule.datasets["train"]
    fit_rows, fit_labels = [], []
    for index in track(range(len(train)), "measuring the training rows to fit the baseline"):
        drawn, _ = train.draw(index)
        if drawn.label is not None:
            fit_rows.append(features(drawn.wave, rate, drawn.text))
            fit_labels.append(drawn.label)
    baseline = HeuristicBaseline().fit(fit_rows, fit_labels)
    labels = datamodule.labels
    notes = _notes(baseline, labels)

    run_dir = create_run_dir(recipe, f"baseline-{split}")
    (run_dir / "baseline.json").write_text(json.dumps(baseline.to_dict(), indent=2) + "\n", encoding="utf-8")
    rules = "\n".join(_rules_header(baseline) + baseline.rules) + "\n"
    (run_dir / RULES_FILE).write_text(rules, encoding="utf-8")
    config = ReportConfig(labels=labels, match_head=None, ctc_head=None, snr_head=None)
    report = run_dir / "report"
    report.mkdir()
    (report / RULES_FILE).write_text(rules, encoding="utf-8")
    evaluated = datamodule.datasets[split]
    with (report / "report.jsonl").open("w", encoding="utf-8") as handle:
        for row in datamodule.unreadable if split == "predict" else []:
            handle.write(json.dumps(row) + "\n")
        for index in track(range(len(evaluated)), f"labelling the {split} rows"):
            drawn, _ = evaluated.draw(index)
            meta = evaluated.meta(drawn)
            (label,) = baseline.predict([meta["features"]])
            (probs,) = baseline.predict_proba([meta["features"]])
            prediction: dict[str, Any] = {
                "id": drawn.id,
                "quality": {"label": labels.index(label), "probs": [probs.get(name, 0.0) for name in labels]},
                "meta": meta,
                "targets": {"quality": labels.index(drawn.label) if drawn.label in labels else -1},
            }
            handle.write(json.dumps(report_row(prediction, config)) + "\n")
    summary = write_summary(report, config, notes=notes, files=[RULES_FILE])
    results = {
        "command": "baseline",
        "recipe": str(recipe.source),
        "split": split,
        "metrics": summary["metrics"],
        "never_predicted": baseline.never_predicted,
        "train_counts": baseline.train_counts,
    }
    (run_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for note in notes:
        print(f"mmzoo: warning: {note}", file=sys.stderr, flush=True)
    metrics = summary["metrics"]
    if metrics is not None:
        per_label = ", ".join(
            f"{name} P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f}"
            for name, v in metrics["per_label"].items()
        )
        print(f"mmzoo: baseline on {split}: macro-F1 {metrics['macro_f1']:.4f}; {per_label}", flush=True)
    print(f"mmzoo: heuristic baseline -> {run_dir} (summary: {report / 'report.html'})", flush=True)
    return run_dir
