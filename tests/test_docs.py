"""The documentation keeps up with the code: hooks, recipe sections, README commands."""

from __future__ import annotations

import inspect
import re

import pytest

from mmzoo import hookspecs
from mmzoo.recipe.schema import SECTIONS

from .conftest import REPO

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("mmzoo_")]


def test_there_are_hooks():
    assert len(HOOKS) == 7


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    assert f"### {hook}\n" in (REPO / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("section", SECTIONS)
def test_every_recipe_section_is_documented(section):
    assert f"| `{section}` |" in (REPO / "docs" / "recipes.md").read_text()


def test_readme_leads_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make quickstart")
    assert first_block.splitlines()[1].startswith("make test")
    assert readme.index("make quickstart") < readme.index("## ")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: setup\n\t\$\(BIN\)/python -m pytest$", makefile, re.M)
    assert re.search(r"^quickstart: setup\n\t\$\(BIN\)/mmzoo fit recipes/quickstart.yaml$", makefile, re.M)


def test_docs_links_resolve():
    for page in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+?)\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
