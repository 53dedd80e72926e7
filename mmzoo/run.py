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

import yaml

from mmzoo.errors import RunError, RunInterrupted
from mmzoo.lifecycle.names import CHECKPOINT_DIR, LAST_NAME, OLD_SUFFIX
from mmzoo.recipe import Recipe, load_recipe, with_component_defaults
from mmzoo.registry import Registry

__all__ = ["COMMANDS", "RunResult", "run_recipe", "resolve_recipe_path", "find_checkpoint", "create_run_dir"]

COMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")

#: Set by rank 0 to the run directory, so that the worker processes Lightning's DDP launcher starts
#: (which re-run the same command) write into it instead of creating their own.
RUN_DIR_ENV = "MMZOO_RUN_DIR"

RECIPE_FILE = "recipe.yaml"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"


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


def resolve_recipe_path(target: str | Path) -> tuple[Path, Path | None]:
    """A recipe file, or a run directory holding ``recipe.yaml``.

    Returns:
        ``(recipe_file, run_dir)``; ``run_dir`` is ``None`` when a file was given.
    """
    path = Path(target)
    if path.is_dir():
        recipe = path / RECIPE_FILE
        if not recipe.is_file():
            raise RunError(f"{path} is a directory without {RECIPE_FILE}", hint="pass a recipe file or a run directory")
        return recipe, path
    return path, None


def create_run_dir(recipe: Recipe, command: str) -> Path:
    """Create a new, empty run directory (never an existing one)."""
    group = Path(recipe.run.root) / recipe.run_name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        group.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(
            f"cannot create the run folder {group}: {exc}", hint="set run.root to a writable folder"
        ) from exc
    for attempt in range(1000):
        run_dir = group / (f"{stamp}-{command}" + (f"-{attempt}" if attempt else ""))
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RunError(f"could not find a free run directory name in {group}")


def _fit_runs(recipe: Recipe) -> list[Path]:
    group = Path(recipe.run.root) / recipe.run_name
    return sorted((p for p in group.glob("*-fit*") if p.is_dir()), key=lambda p: p.name, reverse=True)


def _best_in(run_dir: Path) -> Path | None:
    results = run_dir / RESULTS_FILE
    if results.is_file():
        try:
            best = json.loads(results.read_text()).get("best_checkpoint")
        except (OSError, ValueError):
            best = None
        if best and Path(best).exists():
            return Path(best)
    candidates = sorted((run_dir / "checkpoints").glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def _last_in(run_dir: Path) -> Path | None:
    """``last.ckpt``, or the complete previous one a sharded save was replacing when it was killed."""
    last = run_dir / CHECKPOINT_DIR / LAST_NAME
    if last.exists():
        return last
    previous = last.with_name(LAST_NAME + OLD_SUFFIX)
    return previous if previous.exists() else None


def _checkpoint_path(path: Path) -> Path:
    """A checkpoint named by path: an existing file or sharded checkpoint folder, with a clear error otherwise."""
    if not path.exists():
        raise RunError(f"checkpoint not found: {path}", hint="pass an existing .ckpt file, or --ckpt last / best")
    if path.is_dir() and not (path / ".metadata").is_file():
        if (path / RECIPE_FILE).is_file():
            hint = f"{path} is a run directory: pass it as the recipe to use its checkpoints, e.g. `mmzoo test {path} --ckpt last`"
        elif (path / CHECKPOINT_DIR).is_dir() or path.name == CHECKPOINT_DIR:
            hint = f"pass one file from {path.parent if path.name == CHECKPOINT_DIR else path / CHECKPOINT_DIR}, e.g. .../last.ckpt"
        else:
            hint = "pass a .ckpt file, a sharded checkpoint folder (it holds a .metadata file), or last / best / none"
        raise RunError(f"--ckpt {path} is a folder, not a checkpoint", hint=hint)
    return path


def find_checkpoint(recipe: Recipe, registry: Registry, which: str, run_dir: Path | None = None) -> Path | None:
    """Resolve ``--ckpt``: a path, ``last``, ``best`` or ``none``.

    ``last`` and ``best`` look in ``run_dir`` when given, else in the newest ``fit`` run of this
    recipe's run group that has one.
    """
    if which == "none":
        return None
    if which not in ("last", "best"):
        return _checkpoint_path(Path(which))
    candidates = [run_dir] if run_dir is not None else _matching_fit_runs(recipe, registry, which)
    for candidate in candidates:
        found = _last_in(candidate) if which == "last" else _best_in(candidate)
        if found is not None and found.exists():  # a file, or a folder (a sharded FSDP checkpoint)
            return found
    where = str(run_dir) if run_dir else str(Path(recipe.run.root) / recipe.run_name)
    raise RunError(
        f"no '{which}' checkpoint found in {where}",
        hint="train first with `mmzoo fit RECIPE`, pass --ckpt PATH, or --ckpt none to use untrained weights",
    )


def _matching_fit_runs(recipe: Recipe, registry: Registry, which: str) -> list[Path]:
    """The fit runs of the recipe's group that built this recipe's model, newest first.

    The fingerprint is taken of the full form (every component's defaults spelt out, as the run
    directory's ``recipe.yaml`` saves it), so a recipe that writes a default explicitly matches one
    that leaves it out. When the group has fit runs but none with the recipe's fingerprint, the
    error lists them with how each one differs, rather than silently loading a checkpoint of
    another model.
    """
    from mmzoo.lifecycle.identity import differences, fingerprint, run_fingerprint

    mine = with_component_defaults(recipe, registry)
    wanted = fingerprint(mine)
    runs = _fit_runs(recipe)
    matching, others = [], []
    for run in runs:
        found = run_fingerprint(run)
        if found is not None and found[0] == wanted:
            matching.append(run)
        elif found is not None:
            others.append((run, found[1]))
    if matching or not others:
        return matching
    listed = "\n".join(
        f"  - {run}: " + "; ".join(differences(mine, data)) for run, data in others[:5]
    ) + (f"\n  - and {len(others) - 5} more" if len(others) > 5 else "")
    raise RunError(
        f"no fit run in {Path(recipe.run.root) / recipe.run_name} built this recipe's model, so there is no"
        f" '{which}' checkpoint for it; the runs there differ:\n{listed}",
        hint="pass the run directory of the model you mean (mmzoo runs lists them), or --ckpt PATH; to train this"
        " model, run mmzoo fit without --resume",
    )


def _load_weights(module: Any, checkpoint: Path, trust: bool) -> None:
    """Load a checkpoint's weights into ``module``, with clear errors for bad, untrusted or mismatched files."""
    from mmzoo.lifecycle.loading import read_checkpoint

    state = read_checkpoint(checkpoint, trust=trust)
    if not isinstance(state, dict) or "state_dict" not in state:
        raise RunError(f"{checkpoint} is not a Lightning checkpoint (no state_dict)")
    try:
        module.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        shown = "; ".join(details[:3]) + (f"; and {len(details) - 3} more" if len(details) > 3 else "")
        raise RunError(
            f"checkpoint {checkpoint} does not fit the model of this recipe ({shown})",
            hint="use the recipe the checkpoint was trained with: its run directory holds recipe.yaml",
        ) from exc


def _resumable_predict_dir(path: Path) -> Path:
    if not (path.is_dir() and (path / RECIPE_FILE).is_file() and "-predict" in path.name):
        raise RunError(
            f"{path} is not a predict run directory",
            hint="pass the run directory an interrupted `mmzoo predict` printed (runs/<name>/<stamp>-predict)",
        )
    return path


def _prediction_writer(datamodule: Any, module: Any, run_dir: Path, *, resume: bool) -> Any:
    """The datamodule's own prediction writer if it has one, else the plain JSON Lines writer.

    A writer is a Lightning callback with ``completed_ids()``: the rows an earlier run wrote.
    """
    own = getattr(datamodule, "prediction_writer", None)
    if callable(own):
        return own(run_dir, module.heads, resume=resume)
    from mmzoo.predictions import JsonlPredictionWriter

    return JsonlPredictionWriter(run_dir / PREDICTIONS_FILE, resume=resume)


def _launched_rank() -> int | None:
    """This process's global rank when torchrun or SLURM started several copies of the command."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "TORCHELASTIC_RUN_ID" in os.environ:
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return int(os.environ["SLURM_PROCID"])
    return None


def _launch_id() -> str | None:
    """A name every process of one torchrun or SLURM launch shares (and later launches do not)."""
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        step = os.environ.get("SLURM_STEP_ID")
        return f"slurm-{job}" + (f".{step}" if step else "")
    rendezvous = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    return None if rendezvous == "none" else f"torchrun-{rendezvous}"


def _shared_run_dir(
    recipe: Recipe, registry: Registry, command: str, rank: int, argv: list[str] | None
) -> Path:
    """The run directory of a launch that torchrun or SLURM started on several processes or nodes.

    All processes must agree on it without talking to each other yet (the process group starts
    later, inside the Trainer): it is ``$MMZOO_RUN_DIR`` when set, else named after the launch
    (``<run group>/slurm-<job>.<step>-<command>`` or ``torchrun-<rdzv id>-<command>``). Rank 0
    creates it and writes the recipe; the other ranks wait for that on the shared file system.
    """
    chosen = os.environ.get(RUN_DIR_ENV)
    launch = _launch_id()
    if chosen is None and launch is None:
        raise RunError(
            "this command was started as one of several processes (torchrun or SLURM), but they"
            " have no run directory name in common",
            hint="pass `--rdzv-id <name>` to torchrun, or set MMZOO_RUN_DIR=runs/<name>/<run> for every process",
        )
    run_dir = Path(chosen) if chosen else Path(recipe.run.root) / recipe.run_name / f"{launch}-{command}"
    if rank == 0:
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError as exc:
            raise RunError(
                f"run directory {run_dir} already exists; runs never reuse one",
                hint="start a new launch (a new SLURM job or torchrun --rdzv-id), or set another MMZOO_RUN_DIR",
            ) from exc
        _write_recipe(recipe, registry, run_dir, command, argv)
        return run_dir
    deadline = time.monotonic() + 600
    while not (run_dir / RECIPE_FILE).is_file():
        if time.monotonic() > deadline:
            raise RunError(
                f"rank {rank}: rank 0 did not create {run_dir} within 10 minutes",
                hint="run.root must be on a file system every node shares",
            )
        time.sleep(0.5)
    return run_dir


def _write_recipe(recipe: Recipe, registry: Registry, run_dir: Path, command: str, argv: list[str] | None) -> None:
    """Save the recipe in its full form (every component's defaults spelt out): the run directory
    says exactly what was built, and running it again builds the same model even if a default changes."""
    from mmzoo import __version__

    header = (
        f"# Resolved by mmzoo {__version__} for `{command}` on {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        f"# from {recipe.source}" + (f" with: {' '.join(argv)}" if argv else "") + "\n"
        f"# Run it again: mmzoo fit {run_dir / RECIPE_FILE}\n"
    )
    data = with_component_defaults(recipe, registry)
    # Runs started from this run directory belong to the same group, not to one named "recipe".
    data["run"] = {**(data.get("run") or {}), "name": recipe.run_name}
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    (run_dir / RECIPE_FILE).write_text(header + body, encoding="utf-8")


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

    import lightning.pytorch as pl
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from mmzoo.build import build_datamodule, build_module, build_trainer
    from mmzoo.build_check import check_build
    from mmzoo.lifecycle.preemption import Preempted

    if recipe.seed is not None:
        pl.seed_everything(recipe.seed, workers=True, verbose=False)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    # One example batch through the model before anything is read or written: a broken component
    # is a user error naming it, not an internal error inside training.
    check_build(recipe, registry, module, datamodule.modality_specs)

    # fit resumes only when asked; the other commands evaluate the best checkpoint by default.
    which = ckpt if command == "fit" else (ckpt or "best")
    checkpoint = find_checkpoint(recipe, registry, which, source_run) if which else None
    trust = recipe.checkpoint.trust
    if checkpoint is not None:
        # For fit too: fail early and clearly if it is untrusted or does not fit, before Lightning reads it.
        _load_weights(module, checkpoint, trust)

    # Read and check the data before creating the run directory: bad rows stop here.
    datamodule.setup(command)

    inherited = os.environ.get(RUN_DIR_ENV)
    is_worker = int(os.environ.get("LOCAL_RANK", "0")) > 0 and inherited is not None
    launched_rank = _launched_rank()
    if is_worker:
        run_dir = Path(inherited)
    elif launched_rank is not None and resume is None:
        run_dir = _shared_run_dir(recipe, registry, command, launched_rank, argv)
        is_worker = launched_rank > 0
    elif resume is not None:
        run_dir = _resumable_predict_dir(Path(resume))
        os.environ[RUN_DIR_ENV] = str(run_dir)
    else:
        run_dir = create_run_dir(recipe, command)
        os.environ[RUN_DIR_ENV] = str(run_dir)
        _write_recipe(recipe, registry, run_dir, command, argv)
    attach = getattr(datamodule, "attach_run_dir", None)
    if callable(attach):
        attach(run_dir)
    result = RunResult(run_dir=run_dir, checkpoint=checkpoint)
    callbacks: list[Any] = []
    if command == "predict":
        writer = _prediction_writer(datamodule, module, run_dir, resume=resume is not None)
        result.predictions = getattr(writer, "path", None) or getattr(writer, "directory", None)
        done = writer.completed_ids()
        if done:
            exclude = getattr(datamodule, "exclude_predict_ids", None)
            if callable(exclude):
                exclude(done)
                print(f"mmzoo: resuming {run_dir}: {len(done)} rows already done", flush=True)
            else:  # the writer still writes each row once
                print(f"mmzoo: resuming {run_dir}: {len(done)} rows kept (this datamodule predicts them again)")
        callbacks.append(writer)
    from mmzoo import tracking  # the W&B config and run.json, artifacts, the end of the W&B run

    callbacks.append(
        tracking.RunRecord(
            recipe, registry, command, run_dir, overrides=overrides or [], argv=argv, checkpoint=checkpoint
        )
    )
    trainer = build_trainer(recipe, run_dir, callbacks=callbacks, fit=command == "fit", command=command)
    if not is_worker:
        print(f"mmzoo: {command} {recipe.source} -> run directory {run_dir}", flush=True)

    writes_results = not is_worker
    started = time.monotonic()
    try:
        _execute(command, trainer, module, datamodule, checkpoint, trust, result)
        tracking.log_outputs(trainer, run_dir, result.predictions)
    except (Preempted, SIGTERMException) as exc:
        writes_results = writes_results and trainer.global_rank == 0
        stopped = _interrupted(exc, trainer)
        if writes_results:
            _write_results(
                run_dir, command, recipe, checkpoint, result, time.monotonic() - started, "interrupted", stopped
            )
        raise RunInterrupted(
            f"{command} of {run_dir} was stopped by {stopped['signal']}"
            + (f"; saved {stopped['checkpoint']} at step {stopped['step']}" if stopped.get("checkpoint") else ""),
            hint=f"continue with `mmzoo fit {run_dir} --resume last`" if command == "fit" else "run the command again",
        ) from exc
    finally:
        tracking.finish(trainer)
    if writes_results and trainer.global_rank == 0:
        _write_results(run_dir, command, recipe, checkpoint, result, time.monotonic() - started, "completed")
    return result


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
    run_dir: Path,
    command: str,
    recipe: Recipe,
    checkpoint: Path | None,
    result: RunResult,
    seconds: float,
    status: str,
    stopped: dict[str, Any] | None = None,
) -> None:
    from mmzoo.lifecycle.identity import run_fingerprint

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
