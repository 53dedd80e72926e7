"""Recipes: YAML files that assemble registered components into a training run.

:func:`load_recipe` is the whole pipeline: read the file and its ``extends:`` bases, apply
command-line overrides, resolve ``${...}`` interpolation, and validate against the registry.
:func:`with_component_defaults` gives a validated recipe's full form, every component's defaults
spelt out.
"""

from __future__ import annotations

from pathlib import Path

from mmzoo.errors import RecipeError
from mmzoo.recipe.callables import CallableSchemas
from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.recipe.interpolate import resolve_interpolations
from mmzoo.recipe.loader import LoadedRecipe, load_recipe_file
from mmzoo.recipe.overrides import apply_overrides, parse_override
from mmzoo.recipe.schema import Recipe, with_defaults
from mmzoo.recipe.validate import validate_recipe
from mmzoo.registry import Registry

__all__ = [
    "CallableSchemas",
    "LoadedRecipe",
    "Recipe",
    "load_recipe",
    "load_recipe_file",
    "apply_overrides",
    "parse_override",
    "resolve_interpolations",
    "validate_recipe",
    "with_component_defaults",
]


def load_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    registry: Registry | None = None,
    callables: CallableSchemas | None = None,
) -> Recipe:
    """Load, override, interpolate and validate a recipe.

    Args:
        path: the recipe file.
        overrides: ``key.sub=value`` strings, applied in order.
        registry: components to validate against; defaults to :func:`mmzoo.plugins.load_registry`.
        callables: schemas of the Trainer, optimizers and schedulers (see :func:`validate_recipe`).

    Raises:
        RecipeError: every problem found, with keys and ``file:line``.
    """
    if registry is None:
        from mmzoo.plugins import load_registry

        registry = load_registry()
    loaded = load_recipe_file(path)
    with_defaults(loaded.data)
    problems = apply_overrides(loaded, list(overrides or []))
    try:
        resolve_interpolations(loaded)
        recipe = validate_recipe(loaded, registry, callables)
    except RecipeError as exc:
        problems += exc.problems
    if problems:
        raise RecipeError(problems, source=str(loaded.source))
    return recipe
