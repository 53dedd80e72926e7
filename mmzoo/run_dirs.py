"""Where a command runs: its run directory, made by one process or shared by all the processes of
a launch.

A run directory ``<run.root>/<run.name>/<YYYYmmdd-HHMMSS>-<command>`` never reuses an existing
folder. When torchrun or SLURM start several copies of a command, rank 0 makes one directory
named after the launch and the other ranks wait for it; when Lightning's DDP launcher starts the
worker processes itself, they inherit it through ``$MMZOO_RUN_DIR``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from mmzoo.errors import RunError
from mmzoo.recipe import Recipe, with_component_defaults
from mmzoo.registry import Registry

__all__ = [
    "RUN_DIR_ENV",
    "RECIPE_FILE",
    "RESULTS_FILE",
    "PREDICTIONS_FILE",
    "RunPlace",
    "resolve_recipe_path",
    "create_run_dir",
    "place_run",
    "launched_rank",
    "shared_run_dir",
    "write_recipe",
]

#: Set by rank 0 to the run directory, so that the worker processes Lightning's DDP launcher starts
#: (which re-run the same command) write into it instead of creating their own.
RUN_DIR_ENV = "MMZOO_RUN_DIR"

RECIPE_FILE = "recipe.yaml"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"


@dataclass(frozen=True)
class RunPlace:
    """The run directory of this process, and whether this process is a worker (not the one that
    announces the run and writes ``results.json``)."""

    run_dir: Path
    is_worker: bool


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


def place_run(
    recipe: Recipe, registry: Registry, command: str, *, resume: str | Path | None, argv: list[str] | None
) -> RunPlace:
    """The run directory of this command in this process, created (with the recipe saved in it)
    unless another process of the same run made it.

    - a worker process of Lightning's DDP launcher uses the directory its parent exported;
    - a process of a torchrun or SLURM launch uses the launch's shared directory (:func:`shared_run_dir`);
    - ``resume`` (predict) continues in an interrupted predict run's directory;
    - otherwise a new directory is made.

    The chosen directory is exported in ``$MMZOO_RUN_DIR`` for worker processes started later.
    """
    inherited = os.environ.get(RUN_DIR_ENV)
    if int(os.environ.get("LOCAL_RANK", "0")) > 0 and inherited is not None:
        return RunPlace(Path(inherited), is_worker=True)
    rank = launched_rank()
    if rank is not None and resume is None:
        return RunPlace(shared_run_dir(recipe, registry, command, rank, argv), is_worker=rank > 0)
    if resume is not None:
        run_dir = _resumable_predict_dir(Path(resume))
    else:
        run_dir = create_run_dir(recipe, command)
        write_recipe(recipe, registry, run_dir, command, argv)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return RunPlace(run_dir, is_worker=False)


def _resumable_predict_dir(path: Path) -> Path:
    if not (path.is_dir() and (path / RECIPE_FILE).is_file() and "-predict" in path.name):
        raise RunError(
            f"{path} is not a predict run directory",
            hint="pass the run directory an interrupted `mmzoo predict` printed (runs/<name>/<stamp>-predict)",
        )
    return path


def launched_rank() -> int | None:
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


def shared_run_dir(
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
        write_recipe(recipe, registry, run_dir, command, argv)
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


def write_recipe(recipe: Recipe, registry: Registry, run_dir: Path, command: str, argv: list[str] | None) -> None:
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
