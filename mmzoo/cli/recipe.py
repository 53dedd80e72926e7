"""``mmzoo recipe check|show``: validate a recipe, or print it fully resolved."""

from __future__ import annotations

import sys

import yaml

from mmzoo.recipe import load_recipe
from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.run import resolve_recipe_path

__all__ = ["check_recipe", "show_recipe"]


def check_recipe(target: str, overrides: list[str]) -> int:
    """Validate only: nothing is built, read or written."""
    path, _ = resolve_recipe_path(target)
    recipe = load_recipe(path, overrides)
    parts = [
        f"{len(recipe.encoders)} encoder(s)",
        f"fusion '{recipe.fusion.name}'",
        f"{len(recipe.heads)} head(s)",
        f"{len(recipe.objectives)} objective(s)",
        f"datamodule '{recipe.datamodule.name}'",
    ]
    print(f"{path}: OK ({', '.join(parts)})")
    return 0


def show_recipe(target: str, overrides: list[str]) -> int:
    """Print the recipe after ``extends:``, overrides and interpolation, as YAML, with every
    component's options spelt out (the defaults of those the recipe does not set included)."""
    from mmzoo.plugins import load_registry

    path, _ = resolve_recipe_path(target)
    registry = load_registry()
    recipe = load_recipe(path, overrides, registry)
    full = with_component_defaults(recipe, registry)
    sys.stdout.write(yaml.safe_dump(full, sort_keys=False, default_flow_style=False))
    return 0
