"""Artifacts without training: a QC report's upload, tables and images; lineage and artifact use."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmzoo.qc.report import ReportConfig, report_row, write_summary
from mmzoo.recipe import load_recipe
from mmzoo.tracking.artifacts import Lineage, lineage_of, log_outputs, use_checkpoint_artifact
from mmzoo.tracking.logger import RunLogger
from mmzoo.tracking.run_file import read_run_file, update_run_file
from mmzoo.tracking.settings import resolve_settings

from .wandb_files import offline_run

LABELS = ["ok", "noisy", "mismatch"]


def _report(folder: Path) -> None:
    """A QC report of five utterances, as ``mmzoo predict`` writes it for the speech_qc datamodule."""
    config = ReportConfig(labels=LABELS, match_head=None, ctc_head=None, snr_head=None)
    rows = []
    for index, (true, predicted) in enumerate([(0, 0), (1, 1), (2, 1), (0, 2), (1, 1)]):
        probs = [0.8 if label == predicted else 0.1 for label in range(3)]
        prediction = {"id": f"u{index}", "quality": {"label": predicted, "probs": probs}, "targets": {"quality": true},
                      "meta": {"audio": f"/data/u{index}.wav", "text": str(index)}}  # fmt: skip
        rows.append(report_row(prediction, config))
    folder.mkdir(parents=True)
    (folder / "report.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_summary(folder, config)


@pytest.fixture
def logger(tiny_recipe, registry, tmp_path):
    recipe = load_recipe(tiny_recipe, ["logger.wandb.mode=offline"], registry)
    run_dir = tmp_path / "runs" / "tiny" / "20260101-000000-predict"
    run_dir.mkdir(parents=True)
    logger = RunLogger(resolve_settings(recipe, run_dir, "predict"), run_dir)
    yield logger
    logger.finish(failed=False)


def test_a_qc_report_becomes_an_artifact_tables_and_images(logger, tmp_path):
    run_dir = Path(logger.save_dir)
    _report(run_dir / "report")
    trainer = SimpleNamespace(loggers=[logger], is_global_zero=True)
    log_outputs(trainer, run_dir, run_dir / "report" / "report.jsonl")  # what the QC writer reports
    run_id = logger.experiment.id
    logger.finish(failed=False)

    run = offline_run(run_dir)
    (artifact,) = [artifact for artifact in run.artifacts if artifact.type == "predictions"]
    assert artifact.name == f"predictions-{run_id}"
    files = {entry.path for entry in artifact.manifest.contents}
    assert {"report.jsonl", "report.csv", "summary.json", "scores.png", "confusion.png"} <= files
    logged = {key: value for row in run.history for key, value in row.items()}
    assert logged["qc/report._type"] == "table-file" and logged["qc/report.nrows"] == 5
    assert logged["qc/suspicious._type"] == "table-file"
    assert logged["qc/scores._type"] == logged["qc/confusion._type"] == "images/separated"
    assert logged["qc/total"] == 5 and logged["qc/count/noisy"] == 3
    assert logged["qc/metrics/accuracy"] == pytest.approx(0.6, abs=1e-3)
    assert read_run_file(run_dir)["artifacts"] == {"predictions": f"predictions-{run_id}"}


def test_nothing_is_uploaded_without_a_wandb_run(tmp_path):
    (tmp_path / "predictions.jsonl").write_text("{}\n")
    log_outputs(SimpleNamespace(loggers=[], is_global_zero=True), tmp_path, tmp_path / "predictions.jsonl")
    assert read_run_file(tmp_path) == {}


def _fit_dir(tmp_path: Path, wandb_folders: list[str] = ()) -> Path:
    run_dir = tmp_path / "runs" / "tiny" / "20260101-000000-fit"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "recipe.yaml").write_text("seed: 1\n")
    for name in ("best-000-000004.ckpt", "last.ckpt", "best-001-000008.ckpt"):
        (run_dir / "checkpoints" / name).write_bytes(b"x")
    for name in wandb_folders:
        (run_dir / "wandb" / name).mkdir(parents=True)
    return run_dir


def test_lineage_of_a_checkpoint(tmp_path):
    run_dir = _fit_dir(tmp_path)
    update_run_file(run_dir, {"wandb": {"id": "abc123", "project": "p"}, "artifacts": {"checkpoints": {
        "name": "model-abc123", "aliases": {"checkpoints/best-001-000008.ckpt": "best", "checkpoints/last.ckpt": "last"}}}})  # fmt: skip
    checkpoints = run_dir / "checkpoints"
    best = lineage_of(checkpoints / "best-001-000008.ckpt")
    assert best == Lineage(str((checkpoints / "best-001-000008.ckpt").resolve()), str(run_dir.resolve()), "abc123",
                           "p", "model-abc123:best")  # fmt: skip
    assert lineage_of(checkpoints / "last.ckpt").artifact == "model-abc123:last"
    assert lineage_of(checkpoints / "best-000-000004.ckpt").artifact is None  # a checkpoint it did not upload
    loose = tmp_path / "loose.ckpt"
    loose.write_bytes(b"x")
    assert lineage_of(loose) == Lineage(str(loose.resolve()))


def test_lineage_of_a_run_without_run_json_reads_its_wandb_folder(tmp_path):
    run_dir = _fit_dir(tmp_path, ["offline-run-20260101_000001-older1", "offline-run-20260101_000009-newer9"])
    lineage = lineage_of(run_dir / "checkpoints" / "last.ckpt")
    assert lineage.wandb_run_id == "newer9" and lineage.artifact is None and lineage.run_dir == str(run_dir.resolve())


class _Logger:
    """Records what RunLogger.use_artifact would ask W&B for."""

    def __init__(self, mode: str, fails: bool = False) -> None:
        self.settings = SimpleNamespace(mode=mode)
        self.fails = fails
        self.used: list[tuple[str, str]] = []

    def use_artifact(self, name: str, artifact_type: str) -> None:
        if self.fails:
            raise ValueError("artifact not found")
        self.used.append((name, artifact_type))


def test_online_runs_use_the_checkpoint_artifact():
    lineage = Lineage("/r/checkpoints/last.ckpt", "/r", "abc123", "p", "model-abc123:last")
    online = _Logger("online")
    assert use_checkpoint_artifact(online, lineage) == "p/model-abc123:last"
    assert online.used == [("p/model-abc123:last", "model")]
    offline = _Logger("offline")
    assert use_checkpoint_artifact(offline, lineage) is None and offline.used == []
    assert use_checkpoint_artifact(online, Lineage("/r/checkpoints/x.ckpt", "/r", "abc123")) is None
    with pytest.warns(UserWarning, match="the config keeps the lineage"):
        assert use_checkpoint_artifact(_Logger("online", fails=True), lineage) is None
