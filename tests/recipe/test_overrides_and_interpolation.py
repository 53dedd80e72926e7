from __future__ import annotations

import pytest

from mmzoo.errors import RecipeError
from mmzoo.recipe import apply_overrides, parse_override, resolve_interpolations

from .helpers import loaded


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a.b=3", ("a.b", 3)),
        ("a=1e-3", ("a", 1e-3)),
        ("a=true", ("a", True)),
        ("a=null", ("a", None)),
        ("a=", ("a", None)),
        ("a=[1, 2]", ("a", [1, 2])),
        ("a={x: 1}", ("a", {"x": 1})),
        ("a='007'", ("a", "007")),
        ("a=x=y", ("a", "x=y")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1", "a=[1,"])
def test_malformed_overrides(text):
    with pytest.raises(RecipeError):
        parse_override(text)


def test_overrides_replace_and_create_last_key(tmp_path):
    recipe = loaded(tmp_path, "trainer:\n  max_epochs: 3\n")
    assert apply_overrides(recipe, ["trainer.max_epochs=1", "trainer.fast_dev_run=true"]) == []
    assert recipe.data == {"trainer": {"max_epochs": 1, "fast_dev_run": True}}
    assert recipe.locations["trainer.max_epochs"] == "command line (trainer.max_epochs=1)"


def test_override_of_missing_parent_is_reported_with_suggestion(tmp_path):
    recipe = loaded(tmp_path, "trainer:\n  max_epochs: 3\n")
    (problem,) = apply_overrides(recipe, ["trainr.max_epochs=1"])
    assert "key 'trainr' does not exist (did you mean 'trainer'?)" in problem.message


def test_override_through_a_scalar_is_reported(tmp_path):
    recipe = loaded(tmp_path, "seed: 1\n")
    (problem,) = apply_overrides(recipe, ["seed.x=1"])
    assert "'seed' is not a mapping" in problem.message


def test_interpolation_keeps_types_and_formats_strings(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_TEST_DIR", "/data")
    recipe = loaded(
        tmp_path,
        "n: 4\nhead: {classes: '${n}', title: 'k=${n}'}\npath: '${env:MMZOO_TEST_DIR}/x'\n"
        "fallback: '${env:MMZOO_UNSET_VAR,7}'\nliteral: '$${n}'\nchain: '${head.classes}'\n",
    )
    resolve_interpolations(recipe)
    assert recipe.data["head"] == {"classes": 4, "title": "k=4"}
    assert recipe.data["path"] == "/data/x"
    assert recipe.data["fallback"] == "7"
    assert recipe.data["literal"] == "${n}"
    assert recipe.data["chain"] == 4


def test_interpolation_sees_overrides(tmp_path):
    recipe = loaded(tmp_path, "n: 4\nm: '${n}'\n")
    apply_overrides(recipe, ["n=9"])
    resolve_interpolations(recipe)
    assert recipe.data["m"] == 9


def test_interpolation_errors_are_all_reported(tmp_path):
    recipe = loaded(tmp_path, "a: '${nope}'\nb: '${c}'\nc: '${b}'\nd: '${env:MMZOO_UNSET_VAR}'\n")
    with pytest.raises(RecipeError) as info:
        resolve_interpolations(recipe)
    messages = {p.key: p.message for p in info.value.problems}
    assert "does not exist" in messages["a"]
    assert "interpolation cycle" in messages["b"]
    assert "MMZOO_UNSET_VAR is not set" in messages["d"]
    assert info.value.problems[0].location.endswith("r.yaml:1")
