"""``mmzoo recipe check|show``: validate a recipe, or print it fully resolved."""

from __future__ import annotations

import sys

import yaml

from mmzoo.recipe import load_recipe
from mmzoo.recipe.defaults import with_component_defaults
from mmzoo.registry_cache import load_schemas
from mmzoo.run_dirs import resolve_recipe_path

__all__ = ["check_recipe", "show_recipe"]


def check_recipe(target: str, overrides: list[str], *, build: bool = False) -> int:
    """Validate; with ``build``, also build the model and run the build check (nothing is written).

    Without ``build`` nothing is built or read, and the schemas come from the cache
    (:mod:`mmzoo.registry_cache`) when it is current. With it the plugins are loaded, the
    datamodule and the model are built (no data is read) and one example batch goes through the
    model (:mod:`mmzoo.build_check`).
    """
    path, _ = resolve_recipe_path(target)
    if build:
        from mmzoo.plugins import load_registry

        registry = load_registry()
        recipe = load_recipe(path, overrides, registry)
    else:
        schemas = load_schemas()
        recipe = load_recipe(path, overrides, schemas.registry, schemas.callables)
    parts = [
        f"{len(recipe.encoders)} encoder(s)",
        f"fusion '{recipe.fusion.name}'",
        f"{len(recipe.heads)} head(s)",
        f"{len(recipe.objectives)} objective(s)",
        f"datamodule '{recipe.datamodule.name}'",
    ]
    if not build:
        print(f"{path}: OK ({', '.join(parts)})")
        return 0
    import time

    from mmzoo.build import build_datamodule, build_module
    from mmzoo.build_check import check_build
    from mmzoo.tracking.config import parameter_counts

    started = time.perf_counter()
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    built = time.perf_counter() - started
    checked = check_build(recipe, registry, module, datamodule.modality_specs)
    parameters = parameter_counts(module)["total"]
    print(
        f"{path}: OK ({', '.join(parts)}); built {parameters:,} parameters in {built:.2f} s, example batch"
        f" forward and backward in {checked.seconds:.2f} s"
    )
    for name in checked.unchecked:
        print(f"  objective '{name}' was not checked: it has no example_inputs()")
    return 0


def show_recipe(target: str, overrides: list[str]) -> int:
    """Print the recipe after ``extends:``, overrides and interpolation, as YAML, with every
    component's options spelt out (the defaults of those the recipe does not set included)."""
    path, _ = resolve_recipe_path(target)
    schemas = load_schemas()
    recipe = load_recipe(path, overrides, schemas.registry, schemas.callables)
    full = with_component_defaults(recipe, schemas.registry, schemas.callables)
    sys.stdout.write(yaml.safe_dump(full, sort_keys=False, default_flow_style=False))
    return 0
