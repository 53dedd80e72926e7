"""W&B artifacts: checkpoints, predictions and the QC report, and the lineage between runs.

Checkpoints (``logger.wandb.log_model``)
    Lightning's ``WandbLogger`` uploads the best checkpoints (those of its ``ModelCheckpoint``) as
    versions of the artifact ``model-<run id>``, the best one with the alias ``best``.
    ``last.ckpt`` belongs to mmzoo's own :class:`~mmzoo.lifecycle.last_checkpoint.LastCheckpoint`,
    so :class:`LastCheckpointArtifact` uploads it into the same artifact with the alias ``last``:
    when training ends for ``log_model: true``, and after each epoch for ``all``. The fit run's
    ``run.json`` then records which checkpoint file has which alias.

Outputs (:func:`log_outputs`)
    ``predict`` uploads ``predictions.jsonl``, or the speech QC ``report/`` folder, as the artifact
    ``predictions-<run id>``. From a QC report, the rows (``report.csv``, at most
    ``wandb.Table.MAX_ROWS``) and the most suspicious rows become W&B tables (``qc/report``,
    ``qc/suspicious``), its pictures W&B images (``qc/scores``, ``qc/confusion``), and its counts
    and metrics numbers (``qc/count/<label>``, ``qc/metrics/...``).

Lineage (:func:`lineage_of`)
    A run that evaluates (or resumes from) a checkpoint records the run directory that wrote it
    and that run's W&B id in its config. When that run uploaded the checkpoint under an alias
    (``best`` or ``last``) and this run is online, :func:`use_checkpoint_artifact` also marks the
    artifact version as this run's input, which draws the edge in W&B's lineage graph. Offline runs
    cannot use artifacts (W&B refuses); their config keeps the lineage.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl

from mmzoo.lifecycle.names import CHECKPOINT_DIR, LAST_NAME
from mmzoo.tracking.logger import RunLogger, wandb_logger
from mmzoo.tracking.run_file import read_run_file, update_run_file

__all__ = [
    "CHECKPOINT_ARTIFACT_TYPE",
    "PREDICTIONS_ARTIFACT_TYPE",
    "LastCheckpointArtifact",
    "Lineage",
    "checkpoint_artifact_name",
    "lineage_of",
    "log_outputs",
    "use_checkpoint_artifact",
]

#: The type of checkpoint artifacts (Lightning's).
CHECKPOINT_ARTIFACT_TYPE = "model"
#: The type of what ``predict`` writes.
PREDICTIONS_ARTIFACT_TYPE = "predictions"

#: How run.json names a run's checkpoint artifact.
_CHECKPOINTS = "checkpoints"

#: The W&B run folders in a run directory's ``wandb/`` folder end with the run id.
_RUN_FOLDER = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[a-z0-9]+)$")


def checkpoint_artifact_name(run_id: str) -> str:
    """The checkpoint artifact of a W&B run: Lightning's ``WandbLogger`` names it so."""
    return f"model-{run_id}"


# -- checkpoints --------------------------------------------------------------------------------


class LastCheckpointArtifact(pl.Callback):
    """Upload ``last.ckpt`` into the run's checkpoint artifact with the alias ``last``, and record
    the checkpoint artifact in ``run.json`` when training ends.

    Args:
        run_dir: the run directory.
        log_model: ``True`` uploads once, when training ends; ``"all"`` also after every epoch.
    """

    def __init__(self, run_dir: Path, log_model: bool | Literal["all"]) -> None:
        self.run_dir = Path(run_dir)
        self.log_model = log_model
        self.path = self.run_dir / CHECKPOINT_DIR / LAST_NAME
        self._uploaded_mtime: float | None = None

    def _upload(self, trainer: pl.Trainer) -> None:
        logger = wandb_logger(trainer)
        if logger is None or not trainer.is_global_zero or not self.path.exists():
            return
        mtime = self.path.stat().st_mtime
        if mtime == self._uploaded_mtime:
            return
        import wandb

        metadata = {"original_filename": LAST_NAME, "epoch": trainer.current_epoch, "global_step": trainer.global_step}
        artifact = wandb.Artifact(
            checkpoint_artifact_name(logger.experiment.id), CHECKPOINT_ARTIFACT_TYPE, metadata=metadata
        )
        if self.path.is_dir():  # a sharded checkpoint
            artifact.add_dir(str(self.path), name="model.ckpt")
        else:
            artifact.add_file(str(self.path), name="model.ckpt")
        logger.experiment.log_artifact(artifact, aliases=["last"])
        self._uploaded_mtime = mtime

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.log_model == "all":
            self._upload(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._upload(trainer)
        logger = wandb_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return
        aliases: dict[str, str] = {}
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback is not None else ""
        if best and Path(best).is_file():  # Lightning uploads files only, not sharded checkpoint folders
            aliases[_relative(Path(best), self.run_dir)] = "best"
        if self.path.exists():
            aliases[_relative(self.path, self.run_dir)] = "last"
        if aliases:
            record = {"name": checkpoint_artifact_name(logger.experiment.id), "aliases": aliases}
            update_run_file(self.run_dir, {"artifacts": {**_artifacts(self.run_dir), _CHECKPOINTS: record}})


def _relative(path: Path, run_dir: Path) -> str:
    """``path`` relative to the run directory when inside it, else absolute (an earlier run's file)."""
    try:
        return path.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _artifacts(run_dir: Path) -> dict[str, Any]:
    recorded = read_run_file(run_dir).get("artifacts")
    return recorded if isinstance(recorded, dict) else {}


# -- lineage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lineage:
    """Where a checkpoint comes from.

    Attributes:
        checkpoint: the checkpoint file (or sharded checkpoint folder).
        run_dir: the run directory that wrote it; ``None`` for a file outside any run directory.
        wandb_run_id: that run's W&B id, when it had a W&B run.
        wandb_project: that run's W&B project, when known.
        artifact: ``model-<id>:<alias>`` when that run uploaded this checkpoint under an alias.
    """

    checkpoint: str
    run_dir: str | None = None
    wandb_run_id: str | None = None
    wandb_project: str | None = None
    artifact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _wandb_run_id(run_dir: Path) -> str | None:
    """The id of the newest W&B run in ``run_dir/wandb`` (for runs without ``run.json``)."""
    folders = sorted(
        (path.name for path in (run_dir / "wandb").glob("*run-*") if path.is_dir() and not path.is_symlink()),
        key=lambda name: name.removeprefix("offline-"),
    )
    matches = [match for name in folders if (match := _RUN_FOLDER.match(name))]
    return matches[-1].group("id") if matches else None


def lineage_of(checkpoint: Path) -> Lineage:
    """The run directory, W&B run and checkpoint artifact behind ``checkpoint``."""
    checkpoint = Path(checkpoint).resolve()
    folder = checkpoint.parent
    if folder.name != CHECKPOINT_DIR or not (folder.parent / "recipe.yaml").is_file():
        return Lineage(checkpoint=str(checkpoint))
    run_dir = folder.parent
    facts = read_run_file(run_dir)
    wandb = facts.get("wandb") if isinstance(facts.get("wandb"), dict) else {}
    run_id = wandb.get("id") or _wandb_run_id(run_dir)
    project = wandb.get("project")
    if isinstance(project, str) and project.startswith("${"):  # written as its ${env:...} reference
        project = None
    record = _artifacts(run_dir).get(_CHECKPOINTS)
    artifact = None
    if isinstance(record, dict) and isinstance(record.get("aliases"), dict):
        alias = record["aliases"].get(_relative(checkpoint, run_dir))
        if alias:
            artifact = f"{record['name']}:{alias}"
    return Lineage(str(checkpoint), str(run_dir), run_id, project, artifact)


def use_checkpoint_artifact(logger: RunLogger, lineage: Lineage) -> str | None:
    """Mark the checkpoint's artifact as used by this run (online runs only); returns its name.

    A failure (the fit run was never synced, no network) costs only the lineage edge: it is warned
    about, and the lineage stays in the config.
    """
    if lineage.artifact is None or logger.settings.mode != "online":
        return None
    name = f"{lineage.wandb_project}/{lineage.artifact}" if lineage.wandb_project else lineage.artifact
    try:
        logger.use_artifact(name, CHECKPOINT_ARTIFACT_TYPE)
    except Exception as exc:  # wandb raises several kinds of errors for a missing or unreachable artifact
        warnings.warn(
            f"W&B could not use the checkpoint artifact {name} ({exc}); the config keeps the lineage", stacklevel=2
        )
        return None
    return name


# -- outputs ------------------------------------------------------------------------------------


def _column(values: list[str]) -> list[Any]:
    """CSV cells as numbers when every filled cell of the column is one, else as text; empty is ``None``."""
    try:
        numbers = [float(value) if value != "" else None for value in values]
    except ValueError:
        return [value if value != "" else None for value in values]
    return numbers


def _csv_table(path: Path, limit: int) -> tuple[list[str], list[list[Any]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return [], []
    header, body = rows[0], rows[1 : limit + 1]
    columns = [_column([row[index] if index < len(row) else "" for row in body]) for index in range(len(header))]
    return header, [list(cells) for cells in zip(*columns, strict=True)] if body else []


def _numbers(prefix: str, value: Any) -> dict[str, float]:
    """The numeric leaves of a JSON value, named ``prefix/key/...``."""
    if isinstance(value, bool) or value is None:
        return {}
    if isinstance(value, (int, float)):
        return {prefix: float(value)}
    if isinstance(value, dict):
        found: dict[str, float] = {}
        for key, item in value.items():
            found.update(_numbers(f"{prefix}/{key}", item))
        return found
    return {}


def _log_report(logger: RunLogger, directory: Path) -> None:
    """The QC report's tables, pictures and numbers (the files :func:`mmzoo.qc.report.write_summary` writes)."""
    import wandb

    table = directory / "report.csv"
    if table.is_file():
        columns, rows = _csv_table(table, wandb.Table.MAX_ROWS)
        if columns:
            logger.log_table("qc/report", columns=columns, data=rows)
    summary_file = directory / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else {}
    suspicious = summary.get("suspicious") or []
    if suspicious:
        columns = list(suspicious[0])
        logger.log_table("qc/suspicious", columns=columns, data=[[row.get(c) for c in columns] for row in suspicious])
    calibration = summary.get("calibration") or {}
    numbers = {
        **_numbers("qc/count", summary.get("counts")),
        **_numbers("qc/metrics", summary.get("metrics")),
        **_numbers("qc/calibration", {key: calibration.get(key) for key in ("ece", "temperature")}),
    }
    if isinstance(summary.get("total"), int):
        numbers["qc/total"] = float(summary["total"])
    if numbers:
        logger.log_metrics(numbers)
    for picture in ("scores", "confusion", "pr", "reliability"):
        path = directory / f"{picture}.png"
        if path.is_file():
            logger.log_image(f"qc/{picture}", [str(path)])


def log_outputs(trainer: pl.Trainer, run_dir: Path, outputs: Path | None) -> None:
    """Upload what ``predict`` wrote and record the artifact in ``run.json``.

    ``outputs`` is the prediction writer's file or folder. A file directly in the run directory
    (``predictions.jsonl``) is uploaded alone; a file or folder inside a folder of its own (the QC
    report's ``report/report.jsonl``) brings that whole folder, whose QC tables, pictures and numbers
    are logged as well. Nothing happens without a W&B run, on ranks other than 0, or when ``outputs``
    does not exist.
    """
    logger = wandb_logger(trainer)
    if logger is None or outputs is None or not trainer.is_global_zero or not Path(outputs).exists():
        return
    import wandb

    outputs, run_dir = Path(outputs), Path(run_dir)
    folder = outputs if outputs.is_dir() else outputs.parent
    artifact = wandb.Artifact(f"predictions-{logger.experiment.id}", PREDICTIONS_ARTIFACT_TYPE)
    if folder.resolve() == run_dir.resolve():
        artifact.add_file(str(outputs))
    else:
        artifact.add_dir(str(folder))
        _log_report(logger, folder)
    logger.experiment.log_artifact(artifact)
    update_run_file(run_dir, {"artifacts": {**_artifacts(run_dir), "predictions": artifact.name}})
