"""Speech QC on held-out speech: heuristic baseline vs audio-only vs audio + text, per label.

Fits ``recipes/speech_qc/audio_text.yaml`` and ``audio_only.yaml``, runs ``mmzoo qc baseline``, and
scores all three on the test split of ``recipes/data/sentences`` (sentences and voices unseen in
training), corrupted ``--eval-copies`` times per utterance with the test seed. Writes
``docs/benchmarks/speech_qc.md``. Run from the repository root::

    .venv/bin/python benchmarks/speech_qc.py
    .venv/bin/python benchmarks/speech_qc.py --epochs 2    # a quick look, not for the docs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"audio + text": "recipes/speech_qc/audio_text.yaml", "audio only": "recipes/speech_qc/audio_only.yaml"}
TEST = "recipes/data/sentences/test.jsonl"


def fit_seconds(fit_dir: Path) -> float:
    """Wall time of an earlier fit: from its run directory's time stamp to its results file."""
    started = time.mktime(time.strptime("-".join(fit_dir.name.split("-")[:2]), "%Y%m%d-%H%M%S"))
    return (fit_dir / "results.json").stat().st_mtime - started


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "report" / "summary.json").read_text())


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def comparison_table(summaries: dict[str, dict]) -> list[str]:
    """Markdown lines comparing QC summaries side by side (columns in the given order).

    Per label: F1 and recall; then macro-F1, accuracy, mismatch precision, the expected calibration
    error after and before the temperature, the temperature, and precision at k of the suspicion
    ranking (k = 10, 50 and the number of unusable rows, where precision equals recall).
    """
    names = list(summaries)
    metrics = {name: summary["metrics"] for name, summary in summaries.items()}
    labels = list(metrics[names[0]]["per_label"])
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(title: str, values: list[float | None], bold: bool = False) -> None:
        cells = [_cell(v) for v in values]
        if bold:
            title, cells = f"**{title}**", [f"**{c}**" for c in cells]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")

    for label in labels:
        row(f"{label} F1", [metrics[n]["per_label"][label]["f1"] for n in names])
    row("macro-F1", [metrics[n]["macro_f1"] for n in names], bold=True)
    row("accuracy", [metrics[n]["accuracy"] for n in names])
    for label in labels:
        row(f"{label} recall", [metrics[n]["per_label"][label]["recall"] for n in names])
    row("mismatch precision", [metrics[n]["per_label"]["mismatch"]["precision"] for n in names])
    calibration = {n: summaries[n].get("calibration") or {} for n in names}
    row("ECE (quality probabilities)", [calibration[n].get("ece") for n in names])
    row("ECE before calibration", [(calibration[n].get("uncalibrated") or {}).get("ece") for n in names])
    row("temperature", [calibration[n].get("temperature") for n in names])
    for k_name in ("10", "50", "R"):
        values = []
        for n in names:
            ranking = summaries[n].get("ranking") or {}
            k = ranking.get("unusable") if k_name == "R" else int(k_name)
            found = [item["precision"] for item in ranking.get("at_k", []) if item["k"] == k]
            values.append(found[0] if found else None)
        row(f"precision@{k_name}", values)
    unusable = (summaries[names[0]].get("ranking") or {}).get("unusable")
    lines += [
        "",
        "ECE: expected calibration error of the quality label's top probability, 15 equal-width bins; the"
        " models' temperature is fitted on the validation split (`calibrate: true`), the baseline's"
        " probabilities are its decision tree's leaf frequencies. precision@k: the share of truly unusable"
        f" rows (true label other than `ok`) among the first k rows of the report's ranking; R = {unusable},"
        " the number of unusable rows.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs")
    parser.add_argument("--eval-copies", type=int, default=5, help="corrupted versions of each test utterance")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "speech_qc.md")
    parser.add_argument(
        "--reuse",
        nargs=2,
        action="append",
        default=[],
        metavar=("VARIANT", "FIT_RUN_DIR"),
        help="score an existing fit run instead of training this variant again ('audio+text' or 'audio-only')",
    )
    args = parser.parse_args()

    from mmzoo.qc.baseline import run_baseline
    from mmzoo.run import run_recipe

    root = Path(tempfile.mkdtemp(prefix="mmzoo-qc-bench-"))
    evaluation = [f"data.eval_copies={args.eval_copies}"]
    common = [f"run.root={root}"] + ([f"trainer.max_epochs={args.epochs}"] if args.epochs else [])
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    baseline_dir = run_baseline(RECIPES["audio + text"], common + evaluation, split="test")
    results["heuristic baseline"] = summary_of(baseline_dir)
    reused = {variant.replace("+", " + ").replace("-", " "): Path(path) for variant, path in args.reuse}
    for name, recipe in RECIPES.items():
        if name in reused:
            fit_dir = reused[name]
            timings[name] = fit_seconds(fit_dir)
        else:
            start = time.perf_counter()
            fit_dir = run_recipe("fit", recipe, common).run_dir
            timings[name] = time.perf_counter() - start
        predicted = run_recipe(
            "predict",
            fit_dir,
            [*common, *evaluation, f"data.predict={TEST}", "data.corrupt=[predict]"],
        )
        results[name] = summary_of(predicted.run_dir)

    lines = [
        "# Speech QC: baseline vs audio only vs audio + text",
        "",
        "Written by `.venv/bin/python benchmarks/speech_qc.py`"
        + (f" (`--epochs {args.epochs}`)" if args.epochs else "")
        + f" on {describe_cpu()}.",
        "",
        f"Test split of `recipes/data/sentences` ({results['audio + text']['metrics']['rows']} examples: each of"
        f" the 40 held-out utterances corrupted {args.eval_copies} times; sentences and voices unseen in"
        " training).",
        "",
        *comparison_table(results),
    ]
    lines += [
        "",
        "Reading the mismatch rows: `ok` and `mismatch` examples have the same clean audio, so a model"
        " without the transcript can only split them between the two labels; whichever share it calls"
        " `mismatch` sets its recall, and its precision and `ok` F1 pay for it. Mismatch F1 and precision"
        " are the figures to compare."
        + (
            " The heuristic baseline never predicts `mismatch`."
            if results["heuristic baseline"]["metrics"]["per_label"]["mismatch"]["recall"] == 0
            else ""
        ),
    ]
    for name, summary in results.items():
        if summary.get("asr"):
            gate = summary["asr"]
            verdict = "shown" if gate["shown"] else "not shown"
            lines += [
                "",
                f"{name}: CTC transcripts {verdict} in the report (validation CER {_cell(gate['cer'])},"
                f" bar {gate['bar']:g}).",
            ]
    lines += [
        "",
        "Training time (`mmzoo fit`, wall clock, including validation each epoch): "
        + ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in timings.items())
        + ". The baseline fits its decision tree in seconds.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
