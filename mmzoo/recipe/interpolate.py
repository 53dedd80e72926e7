"""``${...}`` interpolation inside recipes.

- ``${model.fusion.dim}``: the value at that dotted key. When the reference is the whole string,
  the value keeps its type (an integer stays an integer); inside a longer string it is formatted.
- ``${env:NAME}`` or ``${env:NAME,default}``: an environment variable.
- ``$${`` writes a literal ``${``.

References are resolved after ``extends:`` and overrides, so an override of the referenced key
changes every place that refers to it.

A value that an environment variable went into (``${env:TOKEN}``, or ``${other.key}`` where that key
holds one) is recorded in :attr:`LoadedRecipe.env_references` with the text as written, so that what
mmzoo saves (``recipe.yaml``, ``hparams.yaml``, checkpoints, the W&B config) keeps the reference and
never the value: a token passed through the environment stays out of every file and upload.
"""

from __future__ import annotations

import os
import re
from typing import Any

from mmzoo.errors import Problem, RecipeError
from mmzoo.recipe.loader import LoadedRecipe, join_key, location_of, lookup_key

__all__ = ["resolve_interpolations"]

_REFERENCE = re.compile(r"(?<!\$)\$\{([^}]*)\}")


class _Unresolvable(Exception):
    pass


def _lookup(data: Any, dotted: str) -> Any:
    try:
        if not dotted:
            raise KeyError(dotted)
        return lookup_key(data, dotted)
    except KeyError:
        raise _Unresolvable(f"'${{{dotted}}}' refers to a key that does not exist") from None


def resolve_interpolations(recipe: LoadedRecipe) -> None:
    """Replace every ``${...}`` in the recipe, in place.

    Raises:
        RecipeError: unknown references, unset environment variables and reference cycles, all
        reported together with the key that holds them.
    """
    problems: list[Problem] = []
    data = recipe.data
    used_env: list[bool] = [False]  # set while resolving one string that reads the environment

    def resolve_string(text: str, key: str, stack: tuple[str, ...]) -> Any:
        whole = _REFERENCE.fullmatch(text)
        if whole:
            return resolve_reference(whole.group(1).strip(), key, stack)

        def substitute(match: re.Match[str]) -> str:
            value = resolve_reference(match.group(1).strip(), key, stack)
            return "null" if value is None else str(value)

        return _REFERENCE.sub(substitute, text).replace("$${", "${")

    def resolve_reference(ref: str, key: str, stack: tuple[str, ...]) -> Any:
        if ref.startswith("env:"):
            used_env[0] = True
            name, has_default, default = ref[4:].partition(",")
            value = os.environ.get(name.strip())
            if value is None:
                if not has_default:
                    raise _Unresolvable(
                        f"environment variable {name.strip()} is not set (give a default: ${{env:{name.strip()},value}})"
                    )
                value = default.strip()
            return value
        if ref in stack:
            raise _Unresolvable("interpolation cycle: " + " -> ".join([*stack, ref]))
        if any(key == ref or key.startswith(ref + ".") for key in recipe.env_references):
            used_env[0] = True  # the referenced value (already resolved) came from the environment
        return resolve_value(_lookup(data, ref), ref, (*stack, ref))

    def resolve_value(value: Any, key: str, stack: tuple[str, ...]) -> Any:
        if isinstance(value, str) and "${" in value:
            return resolve_string(value, key, stack)
        if isinstance(value, dict):
            return {k: resolve_value(v, join_key(key, k), stack) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve_value(v, join_key(key, i), stack) for i, v in enumerate(value)]
        return value

    def visit(node: Any, prefix: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, value in list(items):
            key = join_key(prefix, k)
            if isinstance(value, (dict, list)):
                visit(value, key)
            elif isinstance(value, str) and "${" in value:
                used_env[0] = False
                try:
                    node[k] = resolve_string(value, key, (key,))
                except _Unresolvable as exc:
                    problems.append(Problem(key, str(exc), location_of(recipe.locations, key)))
                    continue
                if used_env[0]:
                    recipe.env_references[key] = value

    visit(data, "")
    if problems:
        raise RecipeError(problems, source=str(recipe.source))
