"""The full form of a validated recipe: every component block with all of its options.

A recipe writes only the options it changes; :func:`with_component_defaults` fills in the rest
from the factories' signatures, so that ``mmzoo recipe show`` (and whatever saves the recipe) says
exactly what a run builds. Values that came from the environment stay ``${env:...}`` references.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from mmzoo.recipe.callables import CallableSchemas
from mmzoo.recipe.schema import SECTIONS, ComponentSpec, DecoderSettings, EncoderSettings, Recipe
from mmzoo.registry import REQUIRED, Option, Registry
from mmzoo.typecheck import NO_YAML, yaml_form

__all__ = ["with_component_defaults"]

#: The recipe-level keys (see :data:`mmzoo.registry.RESERVED_KEYS`) that have a default, per kind:
#: they come after the factory's options in the full form.
_RECIPE_LEVEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "encoder": asdict(EncoderSettings()),
    "decoder": {key: value for key, value in asdict(DecoderSettings(target="")).items() if key != "target"},
    "objective": {"weight": 1.0},
    "transform": {"train_only": False},
}

def _specs(recipe: Recipe) -> Iterator[ComponentSpec]:
    """Every component of the recipe, optimizer and scheduler included."""
    yield recipe.datamodule
    for chain in recipe.transforms.values():
        yield from chain
    yield from recipe.encoders.values()
    yield recipe.fusion
    yield from recipe.heads.values()
    yield from recipe.decoders.values()
    yield from recipe.objectives.values()
    yield recipe.weighting
    yield recipe.optimizer
    if recipe.scheduler is not None:
        yield recipe.scheduler


def _schema(spec: ComponentSpec, registry: Registry, callables: CallableSchemas) -> tuple[Option, ...]:
    """The options of the factory that builds ``spec``, in signature order."""
    if spec.kind == "optimizer":
        return callables.optimizer(spec.name).options
    if spec.kind == "scheduler":
        return callables.scheduler(spec.name).options
    return registry.get(spec.kind, spec.name).options


def _full_block(block: dict[str, Any], options: tuple[Option, ...], kind: str) -> dict[str, Any]:
    """``block`` (as the recipe writes it) in the full form: ``name``, then the factory's options
    in signature order, then the options taken by ``**kwargs``, then the recipe-level keys."""
    full: dict[str, Any] = {"name": block["name"]}
    for option in options:
        if option.name in block:
            full[option.name] = block[option.name]
        elif option.default is not REQUIRED and (default := yaml_form(option.default)) is not NO_YAML:
            full[option.name] = copy.deepcopy(default)
    recipe_level = _RECIPE_LEVEL_DEFAULTS.get(kind, {})
    for key, value in block.items():
        if key not in full and key not in recipe_level:
            full[key] = value
    for key, default in recipe_level.items():
        full[key] = block[key] if key in block else copy.deepcopy(default)
    return full


def _place(saved: dict[str, Any], key: str, block: dict[str, Any]) -> None:
    """Put ``block`` at the dotted ``key`` of ``saved`` (whose parents exist, list indices included)."""
    *parents, last = key.split(".")
    node: Any = saved
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = block


def _block_at(saved: dict[str, Any], key: str) -> dict[str, Any]:
    """The mapping at the dotted ``key`` of ``saved``; empty when the recipe leaves it out."""
    node: Any = saved
    for part in key.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return {}
    return node if isinstance(node, dict) else {}


def with_component_defaults(
    recipe: Recipe, registry: Registry, callables: CallableSchemas | None = None
) -> dict[str, Any]:
    """The recipe to show or save, with every component block spelt out in full.

    Each component block (the datamodule, transforms, encoders, fusion, heads, objectives,
    weighting, optimizer and scheduler) lists every option of its factory: the value the recipe
    sets, or else the factory's default. Encoders also list the options every encoder takes
    (``freeze``, ``lora``...), objectives their ``weight`` and transforms ``train_only``. A
    ``weighting`` or ``optimizer`` the recipe leaves out appears as the one validation chose
    (``fixed``; ``adamw``). Top-level sections come in :data:`~mmzoo.recipe.schema.SECTIONS`
    order.

    Validation guarantees that required options are set, so none is missing here. A default
    without a YAML form (an object rather than numbers, strings, lists and mappings of them) is
    left out; tuples are written as lists.

    Args:
        recipe: a validated recipe.
        registry: the registry it was validated against.
        callables: the optimizer and scheduler schemas (read from their signatures by default).

    Returns:
        A new dict of plain YAML data. ``recipe.data`` is left unchanged, and values filled from
        the environment stay ``${env:...}`` references, as in :meth:`Recipe.to_save`.
    """
    callables = callables or CallableSchemas(registry)
    saved = recipe.to_save()
    for spec in _specs(recipe):
        # A block the recipe leaves out (weighting, optimizer) is the one validation put in its place.
        block = _block_at(saved, spec.key) or {"name": spec.name, **spec.options}
        _place(saved, spec.key, _full_block(block, _schema(spec, registry, callables), spec.kind))
    return {section: saved[section] for section in SECTIONS if section in saved}
