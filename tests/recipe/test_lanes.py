"""A recipe stays in its lane: runs land inside run.root, naming a class imports nothing else, and values
from the environment are never written down."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from mmzoo.cli.main import main
from mmzoo.errors import RecipeError
from mmzoo.recipe import load_recipe
from mmzoo.run import run_recipe

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "a\\b", " ", " lead"])
def test_run_name_cannot_leave_run_root(tiny_recipe, registry, name):
    with pytest.raises(RecipeError, match="run.name"):
        load_recipe(tiny_recipe, [f"run.name='{name}'"], registry)


def test_a_class_outside_torch_and_the_plugins_is_refused_without_importing_its_module(tiny_recipe, tmp_path):
    # A module that would announce itself when imported; the recipe names a class in it.
    (tmp_path / "announce.py").write_text("import pathlib\npathlib.Path('imported').touch()\nclass Opt: pass\n")
    code = (
        "import sys; from mmzoo.cli.main import main;"
        f" sys.exit(main(['recipe', 'check', {str(tiny_recipe)!r}, 'optimizer.name=announce.Opt']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert done.returncode == 2 and "not from 'announce'" in done.stderr
    assert not (tmp_path / "imported").exists()


def test_torch_classes_are_still_allowed_by_path(tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, ["optimizer.name=torch.optim.SGD", "optimizer.lr=0.1"], registry)
    assert recipe.optimizer.name == "torch.optim.SGD"


def test_environment_values_are_never_written_down(tiny_recipe, tmp_path, monkeypatch, capsys):
    secret = "tok-3f9c0e"  # what a W&B key or a token passed through the environment looks like
    monkeypatch.setenv("MMZOO_TEST_SECRET", secret)
    overrides = [*QUIET, "trainer.max_epochs=1", "logger.wandb.mode=offline", "logger.wandb.entity=${env:MMZOO_TEST_SECRET}"]
    result = run_recipe("fit", tiny_recipe, [*overrides, "logger.wandb.tags=['${logger.wandb.entity}']"])
    run_dir = result.run_dir
    assert yaml.safe_load((run_dir / "recipe.yaml").read_text())["logger"]["wandb"]["entity"] == "${env:MMZOO_TEST_SECRET}"
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{path.relative_to(run_dir)} holds the value"
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    wandb = state["hyper_parameters"]["recipe"]["logger"]["wandb"]
    assert wandb["entity"] == "${env:MMZOO_TEST_SECRET}" and wandb["tags"] == ["${logger.wandb.entity}"]

    assert main(["recipe", "show", str(tiny_recipe), "logger.wandb.entity=${env:MMZOO_TEST_SECRET}"]) == 0
    assert secret not in capsys.readouterr().out
