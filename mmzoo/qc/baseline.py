"""``mmzoo qc baseline``: the heuristic baseline on a speech QC recipe's own data.

Thresholds are fitted on the recipe's training split (the same corrupted stream the model trains
on, one pass of ``copies`` examples per row) and the baseline then labels another split. The
result is a run directory laid out like a model's predict run, so the two compare directly:

- ``baseline.json``: the fitted rules (load with :meth:`HeuristicBaseline.from_dict`);
- ``report/``: the QC report (see :mod:`mmzoo.qc.report`), with metrics where labels are known;
- ``results.json``: the metrics.

Measuring every row takes minutes on a real corpus: both passes show their progress on standard
error (see :func:`mmzoo.console.track`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmzoo.errors import RunError
from mmzoo.registry import Registry

__all__ = ["run_baseline"]


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

    run_dir = create_run_dir(recipe, f"baseline-{split}")
    (run_dir / "baseline.json").write_text(json.dumps(baseline.to_dict(), indent=2) + "\n", encoding="utf-8")
    labels = datamodule.labels
    config = ReportConfig(labels=labels, match_head=None, ctc_head=None, snr_head=None)
    report = run_dir / "report"
    report.mkdir()
    evaluated = datamodule.datasets[split]
    with (report / "report.jsonl").open("w", encoding="utf-8") as handle:
        for row in datamodule.unreadable if split == "predict" else []:
            handle.write(json.dumps(row) + "\n")
        for index in track(range(len(evaluated)), f"labelling the {split} rows"):
            drawn, _ = evaluated.draw(index)
            meta = evaluated.meta(drawn)
            (label,) = baseline.predict([meta["features"]])
            prediction: dict[str, Any] = {
                "id": drawn.id,
                "quality": {"label": labels.index(label), "probs": [float(name == label) for name in labels]},
                "meta": meta,
                "targets": {"quality": labels.index(drawn.label) if drawn.label in labels else -1},
            }
            handle.write(json.dumps(report_row(prediction, config)) + "\n")
    summary = write_summary(report, config)
    results = {"command": "baseline", "recipe": str(recipe.source), "split": split, "metrics": summary["metrics"]}
    (run_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"mmzoo: heuristic baseline -> {run_dir} (summary: {report / 'index.html'})", flush=True)
    return run_dir
