"""Benchmark suites: recipes × a grid of override cells × seeds, read from one YAML file.

A suite file::

    name: fusions                               # default: the file's name
    recipes: [recipes/digits/audio_image.yaml]  # or `recipe:` one path (relative to the working folder)
    overrides: [trainer.max_epochs=5]           # for every cell, as on the command line
    cells:                                      # label -> recipe keys; changing a `name` swaps the component
      concat: {}
      gated: {model.fusion: {name: gated, dim: 64}}
    seeds: [0, 1, 2]
    baseline: concat                            # a cell label (optional)
    metric: val/digit/accuracy                  # default: each recipe's checkpoint.monitor
    mode: max                                   # default: each recipe's checkpoint.mode
    test: false                                 # also evaluate each cell's best checkpoint on test

With several recipes every cell runs on every recipe, and cells are labelled ``<recipe>/<cell>``
(``<recipe>`` is the file name, with its folder in front when two recipes share a file name).
Problems are reported together, each with the suite file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmzoo.errors import MmzooError, Problem
from mmzoo.registry import did_you_mean

__all__ = ["Suite", "Cell", "SuiteError", "load_suite", "cell_overrides"]

_KEYS = ("name", "recipe", "recipes", "overrides", "cells", "seeds", "baseline", "metric", "mode", "test")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class SuiteError(MmzooError):
    """A benchmark suite file is unusable; every problem is listed with its line."""

    def __init__(self, source: Path, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p.render()}" for p in problems)
        count = len(problems)
        super().__init__(f"suite {source} has {count} problem{'s' if count != 1 else ''}:\n{lines}")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a recipe with its overrides, run once per seed.

    Attributes:
        label: the cell's name (a folder name), ``<recipe>/<cell>`` with several recipes.
        recipe: the recipe file.
        overrides: the suite's overrides, then the cell's own.
    """

    label: str
    recipe: Path
    overrides: tuple[str, ...]

    @property
    def folder(self) -> str:
        return self.label.replace("/", "--")


@dataclass
class Suite:
    """A loaded suite (see the module docstring)."""

    source: Path
    name: str
    cells: list[Cell]
    seeds: list[int]
    baseline: str | None = None
    metric: str | None = None
    mode: str | None = None
    test: bool = False
    recipes: list[Path] = field(default_factory=list)


def cell_overrides(keys: dict[str, Any]) -> list[str]:
    """``{dotted.key: value}`` as command-line overrides (``key=<flow YAML>``)."""
    return [f"{key}={_flow(value)}" for key, value in keys.items()]


def _flow(value: Any) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip().removesuffix("...").strip()


def _lines(node: yaml.Node) -> dict[str, int]:
    """The line of each top-level key, and of each cell as ``cells.<label>``."""
    found: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[str(key.value)] = key.start_mark.line + 1
            if key.value == "cells" and isinstance(value, yaml.MappingNode):
                for cell_key, _ in value.value:
                    found[f"cells.{cell_key.value}"] = cell_key.start_mark.line + 1
    return found


def load_suite(path: str | Path, *, check_files: bool = True) -> Suite:
    """Read and check a suite file.

    Args:
        check_files: require the recipe files to exist (not needed to rebuild a report).

    Raises:
        SuiteError: every problem (unknown keys, missing recipes, bad cells, seeds, baseline).
        MmzooError: the file is missing or not YAML.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise MmzooError(f"cannot read suite {source}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        raise MmzooError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    lines = _lines(node) if node is not None else {}
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        top = key.split(".")[0] if not key.startswith("cells.") else key
        line = lines.get(key) or lines.get(top)
        problems.append(Problem(key, message, f"{source}:{line}" if line else str(source)))

    if not isinstance(data, dict):
        raise SuiteError(source, [Problem("", "a suite is a YAML mapping (recipes:, cells:, seeds: ...)", str(source))])
    for key in data:
        if key not in _KEYS:
            problem(str(key), f"unknown key{did_you_mean(str(key), list(_KEYS))}; keys: {', '.join(_KEYS)}")

    name = data.get("name", source.stem)
    if not isinstance(name, str) or not _LABEL.match(name):
        problem("name", "must be a folder name of letters, digits, '.', '_', '+' or '-'")
        name = source.stem
    recipes = _recipes(data, problem, check_files)
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        problem("overrides", "must be a list of key=value strings, as on the command line")
        overrides = []
    cells_data = data.get("cells", {"default": {}})
    if not isinstance(cells_data, dict) or not cells_data:
        problem("cells", "must be a mapping of cell label -> {dotted.key: value}")
        cells_data = {}
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        problem("seeds", "must be a non-empty list of integers >= 0")
        seeds = [0]
    elif len(set(seeds)) != len(seeds):
        problem("seeds", "lists a seed twice")

    cells: list[Cell] = []
    for label, keys in cells_data.items():
        where = f"cells.{label}"
        if not isinstance(label, str) or not _LABEL.match(label):
            problem(where, "a cell label is a folder name of letters, digits, '.', '_', '+' or '-'")
            continue
        if keys is None:
            keys = {}
        if not isinstance(keys, dict) or not all(isinstance(k, str) for k in keys):
            problem(where, "must be a mapping of dotted recipe keys to values, e.g. {model.fusion.dim: 64}")
            continue
        for recipe in recipes:
            full = label if len(recipes) == 1 else f"{_recipe_label(recipe, recipes)}/{label}"
            cells.append(Cell(full, recipe, (*overrides, *cell_overrides(keys))))

    baseline = data.get("baseline")
    if baseline is not None and baseline not in cells_data:
        problem("baseline", f"'{baseline}' is not a cell{did_you_mean(str(baseline), list(cells_data))}")
    metric = data.get("metric")
    if metric is not None and not isinstance(metric, str):
        problem("metric", "must be the name of a logged metric, e.g. val/loss")
    mode = data.get("mode")
    if mode not in (None, "min", "max"):
        problem("mode", "must be min or max")
    test = data.get("test", False)
    if not isinstance(test, bool):
        problem("test", "must be true or false")
    if problems:
        raise SuiteError(source, problems)
    return Suite(source, name, cells, seeds, baseline, metric, mode, test, recipes)


def _recipes(data: dict[str, Any], problem: Any, check_files: bool) -> list[Path]:
    if "recipe" in data and "recipes" in data:
        problem("recipes", "give either recipe: or recipes:, not both")
    listed = data.get("recipes", [data["recipe"]] if "recipe" in data else None)
    if listed is None:
        problem("recipes", "missing: name the recipe files to benchmark")
        return []
    if not isinstance(listed, list) or not listed or not all(isinstance(r, str) for r in listed):
        problem("recipes", "must be a list of recipe files")
        return []
    found = []
    for entry in listed:
        path = Path(entry)
        if check_files and not path.is_file():
            problem("recipes", f"recipe file not found: {entry} (paths are relative to the working folder)")
        found.append(path)
    if len({_recipe_label(p, found) for p in found}) != len(found):
        problem("recipes", "lists a recipe twice")
    return found


def _recipe_label(recipe: Path, recipes: list[Path]) -> str:
    """A recipe's part of a cell label: its file name, with its folder when another recipe shares the name."""
    if sum(other.stem == recipe.stem for other in recipes) == 1:
        return recipe.stem
    return f"{recipe.parent.name}-{recipe.stem}"
