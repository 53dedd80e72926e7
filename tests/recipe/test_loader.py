"""Loading recipes: YAML errors, duplicate keys, extends, merging, locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmzoo.errors import RecipeError
from mmzoo.recipe.loader import deep_merge, load_recipe_file


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo[RecipeError]) -> list[str]:
    return [p.render() for p in exc.value.problems]


def test_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path / "r.yaml", "seed: 1\nmodel:\n  fusion: [a, b\n  heads: {}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe_file(path)
    (message,) = problems(info)
    assert "r.yaml:4:" in message and "YAML syntax error" in message


def test_duplicate_keys_are_reported(tmp_path):
    path = write(tmp_path / "r.yaml", "seed: 1\nseed: 2\n")
    with pytest.raises(RecipeError, match=r"r.yaml:2: seed: key written twice \(first on line 1\)"):
        load_recipe_file(path)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        load_recipe_file(write(tmp_path / "r.yaml", "- 1\n- 2\n"))


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe_file(tmp_path / "nope.yaml")


def test_yaml12_floats(tmp_path):
    loaded = load_recipe_file(write(tmp_path / "r.yaml", "a: 1e-3\nb: 2.5E+2\nc: '1e-3'\nd: 10\n"))
    assert loaded.data == {"a": 1e-3, "b": 250.0, "c": "1e-3", "d": 10}


def test_extends_merges_and_tracks_locations(tmp_path):
    write(tmp_path / "base.yaml", "seed: 1\nmodel:\n  fusion: {name: concat, dim: 8}\n  heads: {a: 1}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nmodel:\n  fusion:\n    dim: 16\n")
    loaded = load_recipe_file(child)
    assert loaded.data == {"seed": 1, "model": {"fusion": {"name": "concat", "dim": 16}, "heads": {"a": 1}}}
    assert loaded.locations["model.fusion.dim"].endswith("child.yaml:4")
    assert loaded.locations["model.fusion.name"].endswith("base.yaml:3")
    assert loaded.locations["seed"].endswith("base.yaml:1")
    assert "extends" not in loaded.data


def test_changing_a_component_name_drops_inherited_options(tmp_path):
    write(tmp_path / "base.yaml", "model:\n  fusion: {name: concat, hidden_dim: 8}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nmodel:\n  fusion: {name: other, rank: 2}\n")
    assert load_recipe_file(child).data == {"model": {"fusion": {"name": "other", "rank": 2}}}


def test_extends_list_applies_in_order(tmp_path):
    write(tmp_path / "a.yaml", "x: 1\ny: 1\n")
    write(tmp_path / "b.yaml", "y: 2\nz: 2\n")
    child = write(tmp_path / "c.yaml", "extends: [a.yaml, b.yaml]\nz: 3\n")
    assert load_recipe_file(child).data == {"x": 1, "y": 2, "z": 3}


def test_extends_missing_base(tmp_path):
    child = write(tmp_path / "c.yaml", "seed: 1\nextends: missing.yaml\n")
    with pytest.raises(RecipeError, match=r"c.yaml:2: extends: base recipe not found: missing.yaml"):
        load_recipe_file(child)


def test_extends_cycle(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(RecipeError, match=r"extends forms a cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_recipe_file(tmp_path / "a.yaml")


def test_self_extends_is_a_cycle(tmp_path):
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe_file(write(tmp_path / "a.yaml", "extends: a.yaml\n"))


def test_deep_merge_replaces_lists():
    assert deep_merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == {"a": [3], "b": {"c": 1, "d": 2}}


def test_lookup_key_follows_mappings_and_list_indices():
    from mmzoo.recipe.loader import lookup_key

    data = {"model": {"heads": [{"dim": 3}]}, "a": None}
    assert lookup_key(data, "model.heads.0.dim") == 3
    assert lookup_key(data, "a") is None
    assert lookup_key(data, "") is data
    for missing in ("model.heads.1", "model.heads.x", "model.fusion", "a.b"):
        with pytest.raises(KeyError):
            lookup_key(data, missing)
