"""Shared by the recipe tests."""

from __future__ import annotations

from pathlib import Path

from mmzoo.recipe import load_recipe_file


def loaded(tmp_path: Path, text: str):
    """``text`` written to a recipe file under ``tmp_path``, loaded (extends and YAML only)."""
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe_file(path)
