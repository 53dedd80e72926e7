"""Load a YAML recipe: safe YAML with line numbers, ``extends:`` inheritance and deep merging.

Locations are tracked for every key so that later errors can point at ``file:line``.

Merging rules (child over base):

- mappings merge key by key, recursively;
- any other value (scalars, lists) replaces the base value;
- a component block (:data:`COMPONENT_BLOCKS`) whose ``name`` differs from the base block's
  ``name`` replaces it whole, so that switching ``model.fusion.name`` does not inherit the options
  of the previous fusion. Other sections always merge: a child's ``run: {name: x}`` keeps the
  base's ``run.root``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmzoo.errors import Problem, RecipeError

__all__ = [
    "COMPONENT_BLOCKS",
    "LoadedRecipe",
    "RecipeLoader",
    "deep_merge",
    "is_component_block",
    "load_recipe_file",
    "join_key",
    "location_of",
    "lookup_key",
    "parse_scalar",
]

#: The recipe keys that hold one component, ``{name: ..., **options}``: ``*`` stands for any one
#: key (a modality, head or objective name) and ``#`` for a list index. Changing a block's ``name``
#: replaces the whole block, in ``extends:`` merging and in overrides alike.
COMPONENT_BLOCKS: tuple[str, ...] = (
    "data",
    "transforms.*.#",
    "model.encoders.*",
    "model.fusion",
    "model.heads.*",
    "model.decoders.*",
    "objectives.*",
    "weighting",
    "optimizer",
    "scheduler",
)


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does (YAML 1.1 needs ``1.0e-3``)."""


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_scalar(text: str) -> object:
    """Parse one YAML value (as in an override) with the recipe loader's rules."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


Locations = dict[str, str]


def join_key(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _matches(pattern: str, key: str) -> bool:
    parts, wanted = key.split("."), pattern.split(".")
    if len(parts) != len(wanted):
        return False
    return all(w == p or w == "*" or (w == "#" and p.isdigit()) for w, p in zip(wanted, parts, strict=True))


def is_component_block(key: str) -> bool:
    """Whether the dotted recipe ``key`` holds one component (see :data:`COMPONENT_BLOCKS`)."""
    return bool(key) and any(_matches(pattern, key) for pattern in COMPONENT_BLOCKS)


def location_of(locations: Locations, key: str) -> str | None:
    """The location of ``key``, or of its nearest parent that has one."""
    while key:
        if key in locations:
            return locations[key]
        key = key.rpartition(".")[0]
    return locations.get("")


@dataclass
class LoadedRecipe:
    """A recipe as loaded from disk, before validation.

    Attributes:
        data: the merged recipe (plain dicts, lists and scalars).
        locations: dotted key -> ``file:line`` where it was last set.
        source: the recipe file that was loaded.
        files: every file read, the recipe first, then its bases.
        env_references: dotted key -> the text written there, for every value that interpolation
            filled from an environment variable (``${env:NAME}``, directly or through another key).
            Saved recipes, checkpoints and logger configs write this text instead of the value.
    """

    data: dict[str, Any]
    locations: Locations
    source: Path
    files: list[Path] = field(default_factory=list)
    env_references: dict[str, str] = field(default_factory=dict)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _walk(node: yaml.Node, prefix: str, file: str, locations: Locations, problems: list[Problem]) -> None:
    """Record the line of every mapping key below ``node``; report duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            dotted = join_key(prefix, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(dotted, f"key written twice (first on line {seen[key]})", f"{file}:{line}"))
            seen[key] = line
            locations[dotted] = f"{file}:{line}"
            _walk(value_node, dotted, file, locations, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            dotted = join_key(prefix, index)
            locations.setdefault(dotted, f"{file}:{item.start_mark.line + 1}")
            _walk(item, dotted, file, locations, problems)


def parse_yaml(text: str, file: str) -> tuple[Any, Locations]:
    """Parse YAML with the safe loader, returning the data and the location of every key.

    Raises:
        RecipeError: a syntax error (with line and column) or duplicate keys.
    """
    loader = RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise RecipeError([Problem("", f"YAML syntax error: {what}", where)]) from None
    except yaml.YAMLError as exc:
        raise RecipeError([Problem("", f"YAML error: {exc}", file)]) from None
    finally:
        loader.dispose()
    locations: Locations = {"": f"{file}:{node.start_mark.line + 1}"}
    problems: list[Problem] = []
    _walk(node, "", file, locations, problems)
    if problems:
        raise RecipeError(problems)
    return data, locations


def deep_merge(base: Any, child: Any, key: str = "") -> Any:
    """Merge ``child`` over ``base`` following the rules in the module docstring.

    Args:
        base: the inherited value.
        child: the value written over it.
        key: the dotted recipe key where both values sit (``""`` for whole recipes): it tells
            whether they are a component block.
    """
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return child
    if is_component_block(key) and "name" in child and "name" in base and child["name"] != base["name"]:
        return child
    merged = dict(base)
    for name, value in child.items():
        merged[name] = deep_merge(base[name], value, join_key(key, name)) if name in base else value
    return merged


def lookup_key(data: Any, dotted: str) -> Any:
    """The value at a dotted key (``model.fusion.dim``, list items by index; ``""`` is ``data``).

    Raises:
        KeyError: no value stands at that key.
    """
    node = data
    for part in dotted.split(".") if dotted else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def _exists(data: Any, dotted: str) -> bool:
    try:
        lookup_key(data, dotted)
    except KeyError:
        return False
    return True


def _merge_locations(data: Any, *layers: Locations) -> Locations:
    """Later layers win; keys that no longer exist in the merged ``data`` are dropped."""
    merged: Locations = {}
    for layer in layers:
        merged.update(layer)
    return {k: v for k, v in merged.items() if _exists(data, k)}


def _load(path: Path, stack: list[Path], files: list[Path]) -> tuple[dict[str, Any], Locations]:
    display = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([Problem("", f"recipe file not found: {display}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([Problem("", f"cannot read recipe file {display}: {exc}")]) from None
    files.append(path)
    data, locations = parse_yaml(text, display)
    if not isinstance(data, dict):
        raise RecipeError(
            [Problem("", "a recipe must be a YAML mapping of sections (seed:, model:, ...)", f"{display}:1")]
        )
    extends = data.pop("extends", None)
    if extends is None:
        return data, locations
    where = locations.get("extends")
    bases = extends if isinstance(extends, list) else [extends]
    merged: dict[str, Any] = {}
    merged_locs: Locations = {}
    for base_name in bases:
        if not isinstance(base_name, str):
            raise RecipeError([Problem("extends", "must be a file path or a list of file paths", where)])
        base_path = (path.parent / base_name).resolve()
        if base_path in stack:
            chain = " -> ".join(_display(p) for p in [*stack[stack.index(base_path) :], base_path])
            raise RecipeError([Problem("extends", f"extends forms a cycle: {chain}", where)])
        if not base_path.is_file():
            raise RecipeError(
                [Problem("extends", f"base recipe not found: {base_name} (looked for {_display(base_path)})", where)]
            )
        base_data, base_locs = _load(base_path, [*stack, base_path], files)
        merged = deep_merge(merged, base_data)
        merged_locs = _merge_locations(merged, merged_locs, base_locs)
    merged = deep_merge(merged, data)
    return merged, _merge_locations(merged, merged_locs, locations)


def load_recipe_file(path: str | Path) -> LoadedRecipe:
    """Load a recipe file and everything it extends.

    Raises:
        RecipeError: missing or unreadable file, YAML error, ``extends:`` cycle or missing base.
    """
    source = Path(path)
    files: list[Path] = []
    try:
        data, locations = _load(source.resolve(), [source.resolve()], files)
    except RecipeError as exc:
        raise RecipeError(exc.problems, source=str(source)) from None
    return LoadedRecipe(data=data, locations=locations, source=source, files=files)
