"""Every recipe shipped in recipes/ validates against the installed registry."""

from __future__ import annotations

import re

import pytest

from mmzoo.recipe import load_recipe

from .conftest import RECIPES

SHIPPED = sorted(p for p in RECIPES.rglob("*.yaml"))


def test_there_are_shipped_recipes():
    assert any(p.name == "quickstart.yaml" for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(RECIPES)))
def test_shipped_recipe_is_valid(path, registry):
    load_recipe(path, [], registry)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(RECIPES)))
def test_shipped_recipe_header_shows_the_command(path):
    header = path.read_text().split("\n\n")[0]
    assert re.search(r"mmzoo (fit|validate|test|predict) recipes/\S+\.yaml", header), (
        "header comment must show the command"
    )


def test_every_shipped_recipe_has_a_run_group_of_its_own(registry):
    """Two recipes writing one run group would find each other's checkpoints as the 'newest run'."""
    groups: dict[str, list[str]] = {}
    for path in SHIPPED:
        recipe = load_recipe(path, [], registry)
        groups.setdefault(f"{recipe.run.root}/{recipe.run_name}", []).append(str(path.relative_to(RECIPES)))
    shared = {group: paths for group, paths in groups.items() if len(paths) > 1}
    assert not shared, f"recipes sharing a run group: {shared}"
