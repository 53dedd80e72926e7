"""Where a W&B run's mode, project, name, group, job type, notes and tags come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmzoo.errors import RecipeError
from mmzoo.recipe import load_recipe
from mmzoo.tracking.settings import component_tags, resolve_settings

from ..conftest import RECIPES

RUN_DIR = Path("runs/tiny/20260101-000000-test")
COMPONENT_TAGS = ["audio:conv1d", "text:bag", "fusion:concat", "head:classification", "objective:cross_entropy",
                  "data:tones_and_words"]  # fmt: skip


@pytest.fixture
def load(tiny_recipe, registry):
    def load(*overrides: str):
        return load_recipe(tiny_recipe, ["logger.wandb.mode=offline", *overrides], registry)

    return load


def test_new_keys_validate_and_take_overrides(load):
    recipe = load("logger.wandb.group=x", "logger.wandb.job_type=sweep", "logger.wandb.name=n",
                  "logger.wandb.notes='a note'", "logger.wandb.log_model=all")  # fmt: skip
    wandb = recipe.logger.wandb
    assert (wandb.group, wandb.job_type, wandb.name, wandb.notes, wandb.log_model) == (
        "x",
        "sweep",
        "n",
        "a note",
        "all",
    )
    assert load("logger.wandb.log_model=true").logger.wandb.log_model is True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("logger.wandb.log_model=best", "expected bool | 'all'"),
        ("logger.wandb.group=[a]", "expected str | null"),
        ("logger.wandb.grup=x", "did you mean 'group'"),
    ],  # fmt: skip
)
def test_bad_values_are_refused(load, override, message):
    with pytest.raises(RecipeError, match="logger.wandb") as caught:
        load(override)
    assert message in str(caught.value)


def test_defaults(load):
    settings = resolve_settings(load(), RUN_DIR, "test", environ={})
    assert settings.mode == "offline" and settings.project == "mmzoo" and settings.entity is None
    assert (settings.name, settings.group, settings.job_type) == ("20260101-000000-test", "tiny", "test")
    assert list(settings.tags) == COMPONENT_TAGS and settings.notes is None and settings.log_model is False


def test_component_tags_name_each_part(registry):
    recipe = load_recipe(RECIPES / "digits" / "audio_image.yaml", registry=registry)
    tags = component_tags(recipe)
    assert {"audio:" + recipe.encoders["audio"].name, "fusion:" + recipe.fusion.name} <= set(tags)
    assert "data:" + recipe.datamodule.name in tags


ENVIRONMENT = {"WANDB_PROJECT": "p-env", "WANDB_ENTITY": "e-env", "WANDB_NAME": "n-env", "WANDB_RUN_GROUP": "g-env",
               "WANDB_JOB_TYPE": "j-env", "WANDB_NOTES": "notes-env", "WANDB_TAGS": "t1, t2,text:bag"}  # fmt: skip


def test_environment_fills_what_the_recipe_leaves_null(load):
    settings = resolve_settings(load("logger.wandb.tags=[mine]"), RUN_DIR, "fit", environ=ENVIRONMENT)
    assert (settings.project, settings.entity, settings.name, settings.group, settings.job_type, settings.notes) == (
        "p-env", "e-env", "n-env", "g-env", "j-env", "notes-env")  # fmt: skip
    # Tags add up, in order, without repeats.
    assert list(settings.tags) == ["mine", *COMPONENT_TAGS, "t1", "t2"]


def test_recipe_values_win_over_the_environment(load):
    recipe = load("logger.wandb.project=p", "logger.wandb.entity=e", "logger.wandb.name=n", "logger.wandb.group=g",
                  "logger.wandb.job_type=j", "logger.wandb.notes=notes")  # fmt: skip
    settings = resolve_settings(recipe, RUN_DIR, "fit", environ=ENVIRONMENT)
    assert (settings.project, settings.entity, settings.name, settings.group, settings.job_type, settings.notes) == (
        "p", "e", "n", "g", "j", "notes")  # fmt: skip


@pytest.mark.parametrize(
    ("recipe_mode", "environ", "expected"),
    [
        ("offline", {}, "offline"),
        ("offline", {"WANDB_MODE": "disabled"}, "disabled"),  # the switch W&B users reach for
        ("online", {"WANDB_MODE": "disabled"}, "disabled"),
        ("offline", {"WANDB_DISABLED": "true"}, "disabled"),
        ("online", {"WANDB_MODE": "offline"}, "offline"),  # keeps a recipe from uploading
        ("online", {"WANDB_MODE": "dryrun"}, "offline"),
        ("offline", {"WANDB_MODE": "online"}, "online"),
        ("disabled", {"WANDB_MODE": "online"}, "disabled"),  # never turns on what the recipe turned off
        ("disabled", {"WANDB_MODE": "offline"}, "disabled"),
        ("online", {"WANDB_MODE": "sideways"}, "online"),  # unknown values leave the recipe's
    ],
)
def test_wandb_mode_precedence(load, recipe_mode, environ, expected):
    assert resolve_settings(load(f"logger.wandb.mode={recipe_mode}"), RUN_DIR, "fit", environ=environ).mode == expected


def test_offline_runs_store_no_value_from_the_environment(load, monkeypatch):
    monkeypatch.setenv("MMZOO_TEST_TEAM", "team-from-env")
    overrides = ["logger.wandb.entity=${env:MMZOO_TEST_TEAM}", "logger.wandb.tags=[kept, '${env:MMZOO_TEST_TEAM}']"]
    offline = resolve_settings(load(*overrides), RUN_DIR, "fit", environ={})
    assert offline.entity is None and "team-from-env" not in offline.tags and "kept" in offline.tags
    # WANDB_ENTITY is W&B's own variable, not a recipe value: it applies.
    assert resolve_settings(load(*overrides), RUN_DIR, "fit", environ={"WANDB_ENTITY": "e"}).entity == "e"
    online = load(*overrides, "logger.wandb.mode=online")
    settings = resolve_settings(online, RUN_DIR, "fit", environ={})
    assert settings.entity == "team-from-env" and "team-from-env" in settings.tags
    # ...and run.json writes the reference.
    record = settings.record(online)
    assert record["entity"] == "${env:MMZOO_TEST_TEAM}" and "${env:MMZOO_TEST_TEAM}" in record["tags"]
