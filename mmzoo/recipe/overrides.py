"""``key.sub=value`` overrides from the command line.

The value is parsed as a YAML scalar or flow collection (``3``, ``1e-3``, ``true``, ``null``,
``[1, 2]``, ``{a: 1}``); quote it to force a string (``run.name='"001"'``).

Every parent of the key must already exist in the recipe. The last part may be new: it is then
checked by validation like any other key, so ``model.fusion.hiden=3`` is reported as an unknown
option of that fusion, with a suggestion, and the problem names the override.
"""

from __future__ import annotations

from typing import Any

import yaml

from mmzoo.errors import Problem, RecipeError
from mmzoo.recipe.loader import LoadedRecipe, parse_scalar
from mmzoo.registry import did_you_mean

__all__ = ["OVERRIDE_LOCATION", "parse_override", "apply_overrides"]

#: The location recorded for keys set on the command line.
OVERRIDE_LOCATION = "command line"


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
        parts = key.split(".")
        node: Any = recipe.data
        walked: list[str] = []
        for part in parts[:-1]:
            if isinstance(node, dict) and part in node and isinstance(node[part], dict):
                node = node[part]
                walked.append(part)
                continue
            parent = ".".join(walked)
            if isinstance(node, dict) and part in node:
                problems.append(
                    Problem(
                        key, f"override {text!r}: '{'.'.join([*walked, part])}' is not a mapping", OVERRIDE_LOCATION
                    )
                )
            else:
                siblings = list(node) if isinstance(node, dict) else []
                where = f" under '{parent}'" if parent else " at the top level"
                problems.append(
                    Problem(
                        key,
                        f"override {text!r}: key '{'.'.join([*walked, part])}' does not exist"
                        f"{did_you_mean(part, siblings)}; keys{where}: {', '.join(map(str, siblings)) or 'none'}",
                        OVERRIDE_LOCATION,
                    )
                )
            break
        else:
            node[parts[-1]] = value
            recipe.locations = {k: v for k, v in recipe.locations.items() if not (k == key or k.startswith(key + "."))}
            recipe.locations[key] = f"{OVERRIDE_LOCATION} ({text})"
    return problems
