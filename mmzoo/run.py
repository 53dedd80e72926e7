"""Run a recipe: ``fit``, ``validate``, ``test`` or ``predict``, each in a run directory of its own.

A run directory ``<run.root>/<run.name>/<YYYYmmdd-HHMMSS>-<command>`` is created only after the
recipe has been validated and the model and data built, and never reuses an existing folder, so
a failing command cannot touch earlier runs. It holds:

- ``recipe.yaml``: the resolved recipe (run it again with ``mmzoo fit <run dir>``);
- ``checkpoints/``: ``best-*.ckpt`` and ``last.ckpt``, the newest state (``fit``; see
  :mod:`mmzoo.lifecycle`);
- ``metrics.csv`` and ``wandb/`` (the W&B run, offline by default);
- ``results.json``: ``status`` (``completed`` or ``interrupted``) and final metrics;
  ``predictions.jsonl`` (``predict``), or what the datamodule's own prediction writer makes (the
  ``speech_qc`` datamodule: a QC report in ``report/``).

A preempted run (SIGTERM, SIGUSR1) saves ``last.ckpt``, writes ``results.json`` with ``"status":
"interrupted"`` and raises :class:`~mmzoo.errors.RunInterrupted` (exit code 75).

``mmzoo predict --resume RUN_DIR`` continues an interrupted predict run in its own directory: the
rows already written are kept and not predicted again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzoo.errors import RunError, RunInterrupted
from mmzoo.recipe import Recipe, load_recipe
from mmzoo.registry import Registry
from mmzoo.run_checkpoints import find_checkpoint, load_weights
from mmzoo.run_dirs import PREDICTIONS_FILE, RESULTS_FILE, RUN_DIR_ENV, place_run, resolve_recipe_path

__all__ = ["COMMANDS", "RunResult", "run_recipe"]

COMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")


@dataclass
class RunResult:
    """What a command produced.

    Attributes:
        run_dir: the run directory.
        metrics: final metrics (validation metrics after ``fit``).
        checkpoint: the checkpoint used (or, after ``fit``, the best one written).
        predictions: the predictions file, for ``predict``.
    """

    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    predictions: Path | None = None


def _prediction_writer(datamodule: Any, module: Any, run_dir: Path, *, resume: bool) -> Any:
    """The datamodule's own prediction writer if it has one, else the plain JSON Lines writer
    (a :class:`~mmzoo.contracts.datamodule.PredictionWriter` either way)."""
    own = datamodule.prediction_writer(run_dir, module.heads, resume=resume)
    if own is not None:
        return own
    from mmzoo.predictions import JsonlPredictionWriter

    return JsonlPredictionWriter(run_dir / PREDICTIONS_FILE, resume=resume)


def _metrics(results: Any) -> dict[str, float]:
    merged: dict[str, float] = {}
    for item in results or []:
        merged.update({k: float(v) for k, v in item.items()})
    return merged


@contextlib.contextmanager
def _known_noise_silenced() -> Iterator[None]:
    """Hide third-party output that says nothing to an mmzoo user (see :mod:`mmzoo.console`;
    ``MMZOO_VERBOSE=1`` shows it)."""
    from mmzoo.console import quiet_third_party

    with quiet_third_party():
        yield


def run_recipe(
    command: str,
    target: str | Path,
    overrides: list[str] | None = None,
    *,
    ckpt: str | None = None,
    resume: str | Path | None = None,
    registry: Registry | None = None,
    argv: list[str] | None = None,
) -> RunResult:
    """Validate, build and run one command.

    Args:
        command: ``fit``, ``validate``, ``test`` or ``predict``.
        target: a recipe file, or a run directory (its ``recipe.yaml`` and checkpoints are used).
        overrides: ``key.sub=value`` strings.
        ckpt: for ``fit``, a checkpoint to resume from (``last`` or a path); for the other commands,
            the weights to evaluate (``best`` by default, ``last``, ``none`` or a path).
        resume: for ``predict``, an earlier predict run directory to continue.
        registry: components to use; defaults to the installed plugins.
        argv: the command line, recorded in the saved recipe.

    Raises:
        MmzooError: any user error (recipe, data, checkpoint), before anything is written where
        possible; a failure during training leaves earlier checkpoints of this run intact.
    """
    if command not in COMMANDS:
        raise RunError(f"unknown command '{command}'; commands: {', '.join(COMMANDS)}")
    if resume is not None and command != "predict":
        raise RunError(f"`resume` continues a predict run; `{command}` resumes with ckpt=PATH or --resume last")
    exported = os.environ.get(RUN_DIR_ENV)
    try:
        with _known_noise_silenced():
            result = _run(command, target, overrides, ckpt=ckpt, resume=resume, registry=registry, argv=argv)
        _release_process_group()
        return result
    finally:
        # The run directory is exported for the worker processes of this run only; a later run in
        # this process (or a process it starts) must not inherit it.
        if exported is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = exported


def _release_process_group() -> None:
    """Destroy the process group a multi-process run (``torchrun``, DDP, FSDP) set up, once every
    rank has finished: a process that exits with gloo's threads still running may abort."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _run(
    command: str,
    target: str | Path,
    overrides: list[str] | None,
    *,
    ckpt: str | None,
    resume: str | Path | None,
    registry: Registry | None,
    argv: list[str] | None,
) -> RunResult:
    if registry is None:
        from mmzoo.plugins import load_registry

        registry = load_registry()
    recipe_path, source_run = resolve_recipe_path(target)
    recipe = load_recipe(recipe_path, overrides, registry)
    datamodule, module = _build(recipe, registry)
    checkpoint = _checkpoint(command, ckpt, recipe, registry, source_run, module)
    datamodule.setup(command)  # read and check the data before any run directory exists
    place = place_run(recipe, registry, command, resume=resume, argv=argv)
    datamodule.attach_run_dir(place.run_dir)
    result = RunResult(run_dir=place.run_dir, checkpoint=checkpoint)
    writers = _prediction_callbacks(command, module, datamodule, result, resume=resume)
    trainer = _trainer(command, recipe, registry, result, writers, overrides=overrides or [], argv=argv)
    if not place.is_worker:
        print(f"mmzoo: {command} {recipe.source} -> run directory {place.run_dir}", flush=True)
    _dispatch(command, recipe, trainer, module, datamodule, checkpoint, result, writes_results=not place.is_worker)
    return result


def _build(recipe: Recipe, registry: Registry) -> tuple[Any, Any]:
    """The seeded datamodule and model, after one example batch went through the model: a broken
    component is a user error naming it, before anything is read or written."""
    import lightning.pytorch as pl

    from mmzoo.build import build_datamodule, build_module
    from mmzoo.build_check import check_build

    if recipe.seed is not None:
        pl.seed_everything(recipe.seed, workers=True, verbose=False)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    check_build(recipe, registry, module, datamodule.modality_specs)
    return datamodule, module


def _checkpoint(
    command: str, ckpt: str | None, recipe: Recipe, registry: Registry, source_run: Path | None, module: Any
) -> Path | None:
    """The checkpoint the command uses, its weights already loaded into ``module`` (for ``fit``
    too: an untrusted or mismatched file fails here, clearly, before Lightning reads it). ``fit``
    resumes only when asked; the other commands evaluate the best checkpoint by default."""
    which = ckpt if command == "fit" else (ckpt or "best")
    checkpoint = find_checkpoint(recipe, registry, which, source_run) if which else None
    if checkpoint is not None:
        load_weights(module, checkpoint, recipe.checkpoint.trust)
    return checkpoint


def _trainer(
    command: str,
    recipe: Recipe,
    registry: Registry,
    result: RunResult,
    callbacks: list[Any],
    *,
    overrides: list[str],
    argv: list[str] | None,
) -> Any:
    """The Trainer, with ``callbacks`` and the run's record (the W&B config and ``run.json``,
    artifacts, the end of the W&B run)."""
    from mmzoo import tracking
    from mmzoo.build import build_trainer

    record = tracking.RunRecord(
        recipe, registry, command, result.run_dir, overrides=overrides, argv=argv, checkpoint=result.checkpoint
    )
    return build_trainer(recipe, result.run_dir, callbacks=[*callbacks, record], fit=command == "fit", command=command)


def _prediction_callbacks(
    command: str, module: Any, datamodule: Any, result: RunResult, *, resume: str | Path | None
) -> list[Any]:
    """The prediction writer of ``predict`` (rows an interrupted run wrote are left out when the
    datamodule can skip them)."""
    if command != "predict":
        return []
    writer = _prediction_writer(datamodule, module, result.run_dir, resume=resume is not None)
    result.predictions = writer.output
    done = writer.completed_ids()
    if done and datamodule.exclude_predict_ids(done):
        print(f"mmzoo: resuming {result.run_dir}: {len(done)} rows already done", flush=True)
    elif done:  # the writer still writes each row once
        print(f"mmzoo: resuming {result.run_dir}: {len(done)} rows kept (this datamodule predicts them again)")
    return [writer]


def _dispatch(
    command: str,
    recipe: Recipe,
    trainer: Any,
    module: Any,
    datamodule: Any,
    checkpoint: Path | None,
    result: RunResult,
    *,
    writes_results: bool,
) -> None:
    """Run the command; write ``results.json`` (rank 0), also when a signal stops the run."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from mmzoo import tracking
    from mmzoo.lifecycle.preemption import Preempted

    started = time.monotonic()
    try:
        _execute(command, trainer, module, datamodule, checkpoint, recipe.checkpoint.trust, result)
        tracking.log_outputs(trainer, result.run_dir, result.predictions)
    except (Preempted, SIGTERMException) as exc:
        stopped = _interrupted(exc, trainer)
        if writes_results and trainer.global_rank == 0:
            _write_results(command, recipe, checkpoint, result, time.monotonic() - started, "interrupted", stopped)
        raise RunInterrupted(
            f"{command} of {result.run_dir} was stopped by {stopped['signal']}"
            + (f"; saved {stopped['checkpoint']} at step {stopped['step']}" if stopped.get("checkpoint") else ""),
            hint=f"continue with `mmzoo fit {result.run_dir} --resume last`" if command == "fit" else "run the command again",
        ) from exc
    finally:
        tracking.finish(trainer)
    if writes_results and trainer.global_rank == 0:
        _write_results(command, recipe, checkpoint, result, time.monotonic() - started, "completed")


def _execute(
    command: str, trainer: Any, module: Any, datamodule: Any, checkpoint: Path | None, trust: bool, result: RunResult
) -> None:
    """Run ``command`` on the built trainer, filling ``result`` with metrics and the best checkpoint."""
    if command == "fit":
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None, weights_only=not trust
        )
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback is not None else None
        validated = trainer.validate(
            module, datamodule=datamodule, ckpt_path=best or None, verbose=True, weights_only=not trust
        )
        result.metrics = _metrics(validated)
        result.checkpoint = Path(best) if best else None
    elif command == "validate":
        result.metrics = _metrics(trainer.validate(module, datamodule=datamodule, verbose=True))
    elif command == "test":
        result.metrics = _metrics(trainer.test(module, datamodule=datamodule, verbose=True))
    else:
        trainer.predict(module, datamodule=datamodule, return_predictions=False)


def _interrupted(exc: BaseException, trainer: Any) -> dict[str, Any]:
    """What stopped the run, for ``results.json`` and the message."""
    from mmzoo.lifecycle.preemption import Preempted

    if isinstance(exc, Preempted):
        return {"signal": exc.signal_name, "step": exc.step, "checkpoint": str(exc.checkpoint)}
    # Lightning's own SIGTERM handling (outside the steps that mmzoo's handler covers): no new checkpoint.
    return {"signal": "SIGTERM", "step": trainer.global_step, "checkpoint": None}


def _write_results(
    command: str,
    recipe: Recipe,
    checkpoint: Path | None,
    result: RunResult,
    seconds: float,
    status: str,
    stopped: dict[str, Any] | None = None,
) -> None:
    from mmzoo.lifecycle.identity import run_fingerprint

    run_dir = result.run_dir
    identity = run_fingerprint(run_dir)  # of the recipe.yaml this run saved
    summary = {
        "command": command,
        "status": status,
        "recipe": str(recipe.source),
        "fingerprint": identity[0] if identity else None,
        "wall_seconds": round(seconds, 2),
        "checkpoint": str(checkpoint) if checkpoint else None,
        "best_checkpoint": str(result.checkpoint) if command == "fit" and result.checkpoint else None,
        "metrics": result.metrics,
        "predictions": str(result.predictions) if result.predictions else None,
    }
    if stopped is not None:
        summary["interrupted"] = stopped
    (run_dir / RESULTS_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
