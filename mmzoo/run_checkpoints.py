"""Which checkpoint a command uses: ``--ckpt PATH | last | best | none`` resolved against the run
group's fit runs of the same model, and loaded with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmzoo.errors import RunError
from mmzoo.lifecycle.names import CHECKPOINT_DIR, LAST_NAME, OLD_SUFFIX
from mmzoo.recipe import Recipe, with_component_defaults
from mmzoo.registry import Registry
from mmzoo.run_dirs import RECIPE_FILE, RESULTS_FILE

__all__ = ["find_checkpoint", "load_weights"]


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


def load_weights(module: Any, checkpoint: Path, trust: bool) -> None:
    """Load a checkpoint's weights into ``module``, with clear errors for bad, untrusted or mismatched files."""
    from mmzoo.lifecycle.loading import read_checkpoint
    from mmzoo.module import validation_metrics_of

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
    module.validation_metrics = validation_metrics_of(state)
