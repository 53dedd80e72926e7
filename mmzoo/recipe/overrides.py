"""``key.sub=value`` overrides from the command line.

The value is parsed as a YAML scalar or flow collection (``3``, ``1e-3``, ``true``, ``null``,
``[1, 2]``, ``{a: 1}``); quote it to force a string (``run.name='"001"'``). The value replaces
what the key held, mappings included: ``model.fusion={name: gated, dim: 64}`` sets the whole block.

Every parent of the key must already exist in the recipe; a number addresses an item of a list
(``transforms.audio.0.n_mels=64``). The last part may be new: it is then checked by validation
like any other key, so ``model.fusion.hiden=3`` is reported as an unknown option of that fusion,
with a suggestion, and the problem names the override.

Swapping a component: an override that changes the ``name`` of a component block
(:data:`~mmzoo.recipe.loader.COMPONENT_BLOCKS`) replaces the whole block, as ``extends:`` does, so
``model.fusion.name=gated`` gives a gated fusion with its own defaults rather than the previous
fusion's options; later overrides add options to it (``model.fusion.name=gated
model.fusion.dim=64``). An encoder loses its encoder-level options (``freeze``, ``lora``...) too.
Setting the name of ``data``, ``model.fusion``, ``weighting``, ``optimizer`` or ``scheduler``
also creates that block when the recipe leaves it out or sets it to ``null``.
"""

from __future__ import annotations

from typing import Any

import yaml

from mmzoo.errors import Problem, RecipeError
from mmzoo.recipe.loader import LoadedRecipe, is_component_block, parse_scalar
from mmzoo.registry import did_you_mean

__all__ = ["OVERRIDE_LOCATION", "parse_override", "apply_overrides"]

#: The location recorded for keys set on the command line.
OVERRIDE_LOCATION = "command line"

#: Component blocks that every recipe has at most one of, at a fixed key: an override of their
#: ``name`` may create them.
_SINGLE_BLOCKS: tuple[str, ...] = ("data", "model.fusion", "weighting", "optimizer", "scheduler")


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key.sub=value`` into the dotted key and the parsed value.

    Raises:
        RecipeError: no ``=``, an empty key, or a value that is not valid YAML.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RecipeError([Problem("", f"override {text!r} is not of the form key.sub=value", OVERRIDE_LOCATION)])
    if any(not part for part in key.split(".")):
        raise RecipeError([Problem(key, f"override {text!r} has an empty key part", OVERRIDE_LOCATION)])
    try:
        value = parse_scalar(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise RecipeError(
            [Problem(key, f"override value {raw!r} is not valid YAML ({reason}); quote it", OVERRIDE_LOCATION)]
        ) from None
    return key, value


def _item(node: Any, part: str) -> tuple[bool, Any]:
    """``(exists, value)`` of ``part`` in a mapping, or of the item at that index of a list."""
    if isinstance(node, dict):
        return part in node, node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return True, node[int(part)]
    return False, None


def _missing(text: str, key: str, node: Any, walked: list[str], part: str) -> Problem:
    """The problem of an override whose key does not lead anywhere."""
    here = ".".join(walked)
    dotted = ".".join([*walked, part])
    if _item(node, part)[0]:
        return Problem(key, f"override {text!r}: '{dotted}' is not a mapping", OVERRIDE_LOCATION)
    if isinstance(node, list):
        return Problem(
            key,
            f"override {text!r}: '{here}' is a list of {len(node)} item(s); address an item by its index"
            + (f" (0 to {len(node) - 1})" if node else ""),
            OVERRIDE_LOCATION,
        )
    siblings = [str(name) for name in node] if isinstance(node, dict) else []
    where = f" under '{here}'" if here else " at the top level"
    return Problem(
        key,
        f"override {text!r}: key '{dotted}' does not exist{did_you_mean(part, siblings)};"
        f" keys{where}: {', '.join(siblings) or 'none'}",
        OVERRIDE_LOCATION,
    )


def _forget(recipe: LoadedRecipe, key: str) -> None:
    """Drop the recorded locations of ``key`` and of everything below it."""
    recipe.locations = {k: v for k, v in recipe.locations.items() if not (k == key or k.startswith(key + "."))}


def _apply(recipe: LoadedRecipe, text: str, key: str, value: Any) -> Problem | None:
    """Apply one parsed override in place; the problem when it cannot apply."""
    parts = key.split(".")
    block = ".".join(parts[:-1])
    sets_block_name = parts[-1] == "name" and is_component_block(block)
    where = f"{OVERRIDE_LOCATION} ({text})"
    parent: Any = None
    node: Any = recipe.data
    walked: list[str] = []
    for part in parts[:-1]:
        exists, child = _item(node, part)
        if exists and isinstance(child, (dict, list)):
            parent, node = node, child
            walked.append(part)
            continue
        creates_block = sets_block_name and block in _SINGLE_BLOCKS and len(walked) == len(parts) - 2
        if creates_block and child is None and isinstance(node, dict):
            # `scheduler.name=constant` where the recipe says `scheduler: null` or leaves it out
            node[part] = {"name": value}
            _forget(recipe, block)
            recipe.locations[block] = recipe.locations[key] = where
            return None
        return _missing(text, key, node, walked, part)
    last = parts[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            return _missing(text, key, node, walked, last)
        node[int(last)] = value
    elif sets_block_name and "name" in node and node["name"] != value:
        # A new component: none of the previous one's options apply to it.
        index = walked[-1]
        parent[int(index) if isinstance(parent, list) else index] = {"name": value}
        _forget(recipe, block)
        recipe.locations[block] = recipe.locations[key] = where
        return None
    else:
        node[last] = value
    _forget(recipe, key)
    recipe.locations[key] = where
    return None


def apply_overrides(recipe: LoadedRecipe, overrides: list[str]) -> list[Problem]:
    """Apply overrides in order, in place; those that cannot apply are skipped.

    Returns:
        A problem for every malformed override or missing parent key (empty when all applied),
        so that the caller can report them together with the recipe's other problems.
    """
    problems: list[Problem] = []
    for text in overrides:
        try:
            key, value = parse_override(text)
        except RecipeError as exc:
            problems.extend(exc.problems)
            continue
        problem = _apply(recipe, text, key, value)
        if problem is not None:
            problems.append(problem)
    return problems
