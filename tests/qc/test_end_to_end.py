"""A tiny speech QC recipe on the espeak-ng digit fixtures: fit, predict with its report, resume, baseline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from mmzoo.cli.main import main
from mmzoo.qc.datamodule import LABELS
from mmzoo.qc.heuristics import HeuristicBaseline
from mmzoo.qc.report import read_report

from ..conftest import RECIPES

ASR = RECIPES / "data" / "digits" / "asr"

QC_RECIPE = """\
seed: 5
run: {{root: {root}, name: qc}}
data:
  name: speech_qc
  train: {asr}/train.jsonl
  val: {asr}/val.jsonl
  test: {asr}/test.jsonl
  predict: {predict}
  batch_size: 8
  report: {{ctc_head: quality}}
transforms:
  audio: [{{name: log_mel, n_mels: 16}}, {{name: normalize}}]
  text: [{{name: tokenize, tokenizer: byt5, lowercase: true}}]
model:
  encoders:
    audio: {{name: conv1d, dim: 16, layers: 1}}
    text: {{name: conv1d, dim: 16, layers: 1}}
  fusion: {{name: cross_attention, dim: 16, heads: 2}}
  heads:
    quality: {{name: ctc_alignment, num_classes: 6, hidden_dim: 16, acoustic_layers: 1}}
    match: {{name: classification, num_classes: 2}}
    snr: {{name: regression}}
objectives:
  quality: {{name: cross_entropy, head: quality, target: quality, calibrate: true}}
  match: {{name: itm, head: match, modality: text, negatives: random, target: match}}
  transcript: {{name: ctc, head: quality, target: transcript}}
  snr: {{name: regression, head: snr, target: snr, loss: huber, weight: 0.05}}
weighting: {{name: uncertainty}}
optimizer: {{name: adamw, lr: 0.003}}
trainer:
  max_epochs: 1
  limit_train_batches: 3
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
logger:
  wandb: {{mode: disabled}}
"""


def _screening_manifest(folder: Path) -> tuple[Path, list[str]]:
    """The test digits plus one undecodable file and one empty transcript: ids in manifest order."""
    rows = [json.loads(line) for line in (ASR / "test.jsonl").read_text().splitlines()]
    for row in rows:
        row["audio"] = str((ASR / row["audio"]).resolve())
    (folder / "broken.flac").write_bytes(b"fLaC not really")
    rows.append({"id": "broken", "audio": str(folder / "broken.flac"), "text": "seven"})
    rows.append({"id": "silent-text", "audio": rows[0]["audio"], "text": ""})
    manifest = folder / "screen.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest, [row["id"] for row in rows]


@pytest.fixture(scope="module")
def qc_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qc")
    manifest, ids = _screening_manifest(folder)
    recipe = folder / "qc.yaml"
    recipe.write_text(QC_RECIPE.format(root=folder / "runs", asr=ASR, predict=manifest))
    assert main(["fit", str(recipe)]) == 0
    return recipe, ids, folder / "runs" / "qc"


def _predict_dirs(group: Path) -> list[Path]:
    return sorted(group.glob("*-predict*"))


def test_predict_writes_the_qc_report(qc_run):
    recipe, ids, group = qc_run
    assert main(["predict", str(recipe)]) == 0
    report = _predict_dirs(group)[-1] / "report"
    rows = read_report(report / "report.jsonl")
    assert sorted(row["id"] for row in rows) == sorted(ids)  # every row once, unreadable ones included
    by_id = {row["id"]: row for row in rows}
    assert by_id["broken"]["label"] == "unreadable" and "audio" in by_id["broken"]["finding"]
    assert by_id["silent-text"]["label"] == "unreadable" and "text" in by_id["silent-text"]["finding"]
    row = by_id[ids[0]]
    assert row["label"] in LABELS and set(row["probs"]) == set(LABELS)
    assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= row["match_score"] <= 1.0
    # One epoch of CTC training is far from the CER bar saved with the checkpoint: no transcripts.
    checkpoint = torch.load(next(group.glob("*-fit/checkpoints/best-*.ckpt")), weights_only=True)
    cer = checkpoint["mmzoo_validation_metrics"]["val/transcript/cer"]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["asr"] == {"metric": "val/transcript/cer", "cer": pytest.approx(cer), "bar": 0.3, "shown": False}
    assert cer > 0.3 and row["asr_text"] is None and row["cer"] is None
    assert f"ASR transcripts not shown: validation CER {cer:.3f}" in (report / "summary.md").read_text()
    assert row["text"] == "zero" and set(row["features"]) >= {"clipping_ratio", "snr_db", "silence_ratio"}
    assert row["true_label"] is None  # a corpus screened as it is has no known labels

    with (report / "report.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(ids) and {"p_ok", "f_snr_db", "match_score", "cer"} <= set(table[0])
    summary = json.loads((report / "summary.json").read_text())
    assert summary["total"] == len(ids) and sum(summary["counts"].values()) == len(ids)
    assert summary["counts"]["unreadable"] == 2
    assert [s["id"] for s in summary["suspicious"][:2]] == ["broken", "silent-text"]
    assert not (report / "confusion.png").exists() and summary["metrics"] is None
    assert summary["calibration"] is None and not (report / "reliability.png").exists()  # no true labels
    page = (report / "report.html").read_text()
    assert "scores.png" in page and (report / "scores.png").stat().st_size > 1000


def test_transcripts_are_shown_when_the_validation_cer_meets_the_bar(qc_run):
    recipe, ids, group = qc_run
    assert main(["predict", str(recipe), "data.report.asr_cer_bar=100"]) == 0
    report = _predict_dirs(group)[-1] / "report"
    rows = {row["id"]: row for row in read_report(report / "report.jsonl")}
    assert isinstance(rows[ids[0]]["asr_text"], str) and rows[ids[0]]["cer"] >= 0.0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["asr"]["shown"] is True and "ASR transcripts shown" in summary["notes"][0]


def test_the_temperature_fitted_on_validation_is_saved_and_applied(qc_run):
    recipe, _, group = qc_run
    checkpoint = torch.load(next(group.glob("*-fit/checkpoints/best-*.ckpt")), weights_only=True)
    temperature = float(checkpoint["state_dict"]["heads.quality.temperature"])
    assert temperature != 1.0  # fitted on the validation split
    assert main(["predict", str(recipe), f"data.predict={ASR / 'test.jsonl'}", "data.corrupt=[predict]"]) == 0
    report = _predict_dirs(group)[-1] / "report"
    summary = json.loads((report / "summary.json").read_text())
    calibration = summary["calibration"]
    assert calibration["temperature"] == pytest.approx(temperature, abs=1e-4)
    assert calibration["labelled"] == 20 and 0.0 <= calibration["ece"] <= 1.0
    assert calibration["uncalibrated"] is not None and sum(b["rows"] for b in calibration["bins"]) == 20
    assert (report / "reliability.png").is_file() and "Calibration" in (report / "report.html").read_text()
    rows = read_report(report / "report.jsonl")
    assert all(row["margin"] is not None for row in rows)


def test_predict_on_a_corrupted_split_reports_metrics_and_a_confusion_matrix(qc_run):
    recipe, _, group = qc_run
    assert main(["predict", str(recipe), f"data.predict={ASR / 'test.jsonl'}", "data.corrupt=[predict]"]) == 0
    report = _predict_dirs(group)[-1] / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["metrics"]["rows"] == 20 and 0.0 <= summary["metrics"]["macro_f1"] <= 1.0
    assert sum(summary["true_counts"].values()) == 20
    assert (report / "confusion.png").is_file() and "confusion.png" in (report / "summary.md").read_text()


def test_an_interrupted_predict_resumes_without_redoing_rows(qc_run):
    recipe, ids, group = qc_run
    assert main(["predict", str(recipe)]) == 0
    run_dir = _predict_dirs(group)[-1]
    path = run_dir / "report" / "report.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    kept = [json.loads(line) for line in lines[:5]]
    for row in kept:
        row["suspicion"] = 0.123456  # a mark that survives only if the row is not predicted again
    # As a killed run leaves it: five whole rows and half of the sixth.
    path.write_text("".join(json.dumps(row) + "\n" for row in kept) + lines[5][: len(lines[5]) // 2])
    (run_dir / "report" / "summary.json").unlink()

    assert main(["predict", str(recipe), "--resume", str(run_dir)]) == 0
    assert _predict_dirs(group)[-1] == run_dir  # no new run directory
    rows = read_report(path)
    assert sorted(row["id"] for row in rows) == sorted(ids)
    assert [row["suspicion"] for row in rows[:5]] == [0.123456] * 5
    assert json.loads((run_dir / "report" / "summary.json").read_text())["total"] == len(ids)


def test_resume_needs_a_predict_run_directory(qc_run, tmp_path, capsys):
    recipe, _, _ = qc_run
    assert main(["predict", str(recipe), "--resume", str(tmp_path)]) == 2
    assert "not a predict run directory" in capsys.readouterr().err


def test_heuristic_baseline_fits_on_train_and_reports_on_a_split(qc_run):
    recipe, _, group = qc_run
    assert main(["qc", "baseline", str(recipe), "--split", "val"]) == 0
    run_dir = sorted(group.glob("*-baseline-val*"))[-1]
    data = json.loads((run_dir / "baseline.json").read_text())
    baseline = HeuristicBaseline.from_dict(data)
    assert data["model"] == "decision_tree" and set(data["labels"]) <= set(LABELS)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["split"] == "val" and results["metrics"]["rows"] == 20
    assert set(results["metrics"]["per_label"]["ok"]) == {"precision", "recall", "f1"}
    # every label with training rows is predictable, or the report says which is not
    assert results["never_predicted"] == baseline.never_predicted == data["never_predicted"]
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert all(any(name in note for note in summary["notes"]) for name in baseline.never_predicted)
    rules = (run_dir / "rules.txt").read_text()
    assert "class:" in rules and rules == (run_dir / "report" / "rules.txt").read_text()
    assert "rules.txt" in (run_dir / "report" / "report.html").read_text()
    # the report's labels are the tree's, row by row
    report = [json.loads(line) for line in (run_dir / "report" / "report.jsonl").read_text().splitlines()]
    assert [row["label"] for row in report] == baseline.predict([row["features"] for row in report])
    assert (run_dir / "report" / "confusion.png").is_file()


def test_baseline_needs_a_speech_qc_recipe(tiny_recipe, capsys):
    assert main(["qc", "baseline", str(tiny_recipe)]) == 2
    assert "speech_qc datamodule" in capsys.readouterr().err
