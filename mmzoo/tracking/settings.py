"""Who a W&B run is: mode, project, entity, name, group, job type, notes, tags and ``log_model``.

Each setting comes from the first of these that gives it (docs/wandb.md, "Precedence"):

1. the recipe's ``logger.wandb`` value (from the file or a command-line override);
2. the standard W&B environment variable (``WANDB_PROJECT``, ``WANDB_ENTITY``, ``WANDB_NAME``,
   ``WANDB_RUN_GROUP``, ``WANDB_JOB_TYPE``, ``WANDB_NOTES``);
3. mmzoo's default: project ``mmzoo``, name the run directory's name, group ``run.name``, job
   type the command.

Two settings combine instead:

- ``mode``: ``WANDB_MODE`` wins over the recipe, except that it never turns on a W&B the recipe
  disabled (``WANDB_DISABLED=true`` counts as ``WANDB_MODE=disabled``). So ``WANDB_MODE=disabled``
  switches W&B off everywhere, and ``WANDB_MODE=offline`` keeps a recipe that says ``online``
  from uploading.
- ``tags``: the recipe's tags, then one tag per component the recipe uses, then ``WANDB_TAGS``
  (comma-separated), without repeats.

An offline run stores none of the ``logger.wandb`` values the recipe takes from the environment
(``${env:...}``): such a value is skipped as if the recipe did not set it, so that, as everywhere
else in mmzoo, values from the environment are never written into the run directory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mmzoo.recipe.schema import Recipe

__all__ = ["DEFAULT_PROJECT", "WandbSettings", "component_tags", "resolve_settings"]

#: The project of runs whose recipe and environment name none.
DEFAULT_PROJECT = "mmzoo"

#: W&B's longest tag.
_MAX_TAG = 64

Mode = Literal["online", "offline", "disabled"]

#: ``WANDB_MODE`` values W&B accepts, as the modes of ``logger.wandb.mode``.
_ENV_MODES: dict[str, Mode] = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}

#: Setting -> the environment variable that stands in for it when the recipe leaves it ``null``.
_ENV_NAMES: dict[str, str] = {
    "project": "WANDB_PROJECT",
    "entity": "WANDB_ENTITY",
    "name": "WANDB_NAME",
    "group": "WANDB_RUN_GROUP",
    "job_type": "WANDB_JOB_TYPE",
    "notes": "WANDB_NOTES",
}


@dataclass(frozen=True)
class WandbSettings:
    """The resolved settings of one W&B run (see the module docstring for where each comes from)."""

    mode: Mode
    project: str
    entity: str | None
    name: str
    group: str
    job_type: str
    notes: str | None
    tags: tuple[str, ...]
    log_model: bool | Literal["all"]

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"

    def init_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``wandb.init`` (through Lightning's ``WandbLogger``)."""
        return {
            "mode": self.mode,
            "project": self.project,
            "entity": self.entity,
            "name": self.name,
            "group": self.group,
            "job_type": self.job_type,
            "notes": self.notes,
            "tags": list(self.tags),
        }

    def record(self, recipe: Recipe) -> dict[str, Any]:
        """The settings as ``run.json`` keeps them: a value the recipe took from the environment
        (``${env:...}``) is written as that reference, never as the value."""
        references = _environment_values(recipe)

        def written(value: Any) -> Any:
            return references.get(value, value) if isinstance(value, str) else value

        record = {key: written(value) for key, value in self.init_arguments().items()}
        record["tags"] = [written(tag) for tag in self.tags]
        record["log_model"] = self.log_model
        return record


def _mode(recipe_mode: Mode, environ: Mapping[str, str]) -> Mode:
    if recipe_mode == "disabled":
        return "disabled"
    if environ.get("WANDB_DISABLED", "").strip().lower() in ("true", "1", "yes"):
        return "disabled"
    wanted = environ.get("WANDB_MODE", "").strip().lower()
    # An unknown WANDB_MODE leaves the recipe's mode.
    return _ENV_MODES.get(wanted, recipe_mode)


def _environment_values(recipe: Recipe) -> dict[str, str]:
    """The values of ``logger.wandb`` the recipe took from the environment -> their reference text."""
    found: dict[str, str] = {}
    for key, text in recipe.env_references.items():
        if not key.startswith("logger.wandb."):
            continue
        node: Any = recipe.data
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        for value in node if isinstance(node, list) else [node]:
            found[str(value)] = text
    return found


def component_tags(recipe: Recipe) -> list[str]:
    """One tag per component: ``<modality>:<encoder>``, ``fusion:``, ``head:``, ``objective:``, ``data:``."""
    tags = [f"{modality}:{spec.name}" for modality, spec in recipe.encoders.items()]
    tags.append(f"fusion:{recipe.fusion.name}")
    tags += [f"head:{spec.name}" for spec in recipe.heads.values()]
    tags += [f"objective:{spec.name}" for spec in recipe.objectives.values()]
    tags.append(f"data:{recipe.datamodule.name}")
    return tags


def _unique(tags: list[str]) -> tuple[str, ...]:
    kept: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()[:_MAX_TAG]
        if tag:
            kept.setdefault(tag)
    return tuple(kept)


def resolve_settings(
    recipe: Recipe, run_dir: Path, command: str, environ: Mapping[str, str] | None = None
) -> WandbSettings:
    """The W&B settings of ``command`` run from ``recipe`` in ``run_dir``.

    Args:
        recipe: the validated recipe.
        run_dir: the run directory (its name is the default run name).
        command: ``fit``, ``validate``, ``test`` or ``predict`` (the default job type).
        environ: the environment to read ``WANDB_*`` from; defaults to ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    config = recipe.logger.wandb
    mode = _mode(config.mode, environ)
    # Recipe keys under logger.wandb whose value came from the environment (${env:...}).
    from_environment = {
        key.removeprefix("logger.wandb.") for key in recipe.env_references if key.startswith("logger.wandb.")
    }
    hidden = from_environment if mode == "offline" else set()

    values = dataclasses.asdict(config)

    def pick(setting: str, default: str | None) -> str | None:
        value = values[setting]
        if value is not None and setting not in hidden:
            return str(value)
        return environ.get(_ENV_NAMES[setting]) or default

    recipe_tags = (
        [] if "tags" in hidden else [str(tag) for index, tag in enumerate(config.tags) if f"tags.{index}" not in hidden]
    )
    env_tags = environ.get("WANDB_TAGS", "").split(",")
    return WandbSettings(
        mode=mode,
        project=pick("project", DEFAULT_PROJECT) or DEFAULT_PROJECT,
        entity=pick("entity", None),
        name=pick("name", run_dir.name) or run_dir.name,
        group=pick("group", recipe.run_name) or recipe.run_name,
        job_type=pick("job_type", command) or command,
        notes=pick("notes", None),
        tags=_unique([*recipe_tags, *component_tags(recipe), *env_tags]),
        log_model=config.log_model,
    )
