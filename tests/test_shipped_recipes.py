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
