"""Values out of range are validation errors: component options, trainer and optimizer settings."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from mmzoo.cli.main import EXIT_USER, main
from mmzoo.errors import Problem, RecipeError
from mmzoo.recipe import load_recipe

from ..conftest import RECIPES

QUICKSTART = RECIPES / "quickstart.yaml"


def problems_of(path, registry, overrides=()) -> dict[str, Problem]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides), registry)
    return {p.key: p for p in info.value.problems}


@pytest.mark.parametrize(
    "override, key, fragment",
    [
        ("model.fusion.dim=0", "model.fusion.dim", "must be >= 1, got the integer 0 (option of fusion 'concat')"),
        (
            "model.encoders.audio.dropout=1.5",
            "model.encoders.audio.dropout",
            "must be in [0, 1], got the number 1.5 (option of encoder 'conv1d')",
        ),
        ("model.encoders.text.layers=0", "model.encoders.text.layers", "must be >= 1, got the integer 0"),
        ("model.heads.label.num_classes=1", "model.heads.label.num_classes", "must be >= 2, got the integer 1"),
        ("objectives.label.label_smoothing=1.0", "objectives.label.label_smoothing", "must be in [0, 1)"),
        ("trainer.max_epochs=0", "trainer.max_epochs", "expected -1 | int >= 1 | null, got the integer 0"),
        ("trainer.max_steps=0", "trainer.max_steps", "expected -1 | int >= 1, got the integer 0"),
        ("trainer.min_epochs=-1", "trainer.min_epochs", "expected int >= 0 | null, got the integer -1"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches", "expected int >= 1, got"),
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val", "expected float >= 0 | null, got the integer -1"),
        ("trainer.gradient_clip_val=.inf", "trainer.gradient_clip_val", "got the number inf"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps", "expected int >= 1 | null, got the integer 0"),
        ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch", "expected int >= 1 | null"),
        ("trainer.num_sanity_val_steps=-2", "trainer.num_sanity_val_steps", "expected int >= -1 | null"),
        (
            "trainer.limit_val_batches=1.5",
            "trainer.limit_val_batches",
            "expected int >= 0 | float in [0, 1] | null, got the number 1.5",
        ),
        ("trainer.limit_train_batches=-1", "trainer.limit_train_batches", "got the integer -1"),
        ("trainer.val_check_interval=0", "trainer.val_check_interval", "expected int >= 1 | float in (0, 1] |"),
        ("optimizer.lr=-1", "optimizer.lr", "must be >= 0, got the integer -1 (option of optimizer 'adamw')"),
        ("optimizer.lr=.nan", "optimizer.lr", "must be a finite number >= 0, got the number nan"),
        ("optimizer.weight_decay=-0.1", "optimizer.weight_decay", "must be >= 0, got the number -0.1"),
        ("optimizer.eps=0", "optimizer.eps", "got the integer 0"),
        ("optimizer.betas=[0.9, 1.0]", "optimizer.betas", "expected tuple[float in [0, 1), float in [0, 1)]"),
    ],
)
def test_out_of_range_override(registry, override, key, fragment):
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, [override], registry)
    assert [p.key for p in info.value.problems] == [key]
    problem = info.value.problems[0]
    assert problem.location == f"command line ({override})"
    assert fragment in problem.message
    assert f"command line ({override}): {key}: " in str(info.value)


def test_out_of_range_values_in_a_file_name_their_lines(tmp_path, registry):
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"extends: {QUICKSTART}\n"  # line 1
        "model:\n"
        "  fusion: {dim: 0}\n"  # line 3
        "  encoders:\n"
        "    audio: {dropout: 1.5}\n"  # line 5
        "optimizer: {lr: -1}\n"  # line 6
        "trainer:\n"
        "  max_epochs: 0\n"  # line 8
        "  gradient_clip_val: -1\n"  # line 9
    )
    found = problems_of(path, registry)
    lines = {key: problem.location for key, problem in found.items()}
    assert lines == {
        "model.fusion.dim": f"{path}:3",
        "model.encoders.audio.dropout": f"{path}:5",
        "optimizer.lr": f"{path}:6",
        "trainer.max_epochs": f"{path}:8",
        "trainer.gradient_clip_val": f"{path}:9",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.max_epochs=-1"],
        ["trainer.max_epochs=null", "trainer.max_steps=50"],
        ["trainer.min_epochs=0", "trainer.min_steps=0"],
        ["trainer.gradient_clip_val=0"],
        ["trainer.gradient_clip_val=null"],
        ["trainer.num_sanity_val_steps=-1"],
        ["trainer.limit_train_batches=0.25", "trainer.limit_val_batches=0", "trainer.limit_test_batches=3"],
        ["trainer.val_check_interval=0.5"],
        ["trainer.val_check_interval=20", "trainer.check_val_every_n_epoch=null"],
        ["trainer.val_check_interval='00:00:05:00'"],
        ["optimizer.lr=0", "optimizer.betas=[0.0, 0.999]", "optimizer.eps=1e-6"],
        ["optimizer.name=sgd", "optimizer.momentum=0.9", "optimizer.dampening=0.1", "optimizer.weight_decay=0"],
        ["optimizer.name=torch.optim.Adafactor", "optimizer.eps=[null, 1.0e-3]", "optimizer.weight_decay=0.0"],
    ],
)
def test_values_in_range_are_accepted(registry, overrides):
    load_recipe(QUICKSTART, overrides, registry)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.name=sgd", "optimizer.momentum=1.5"], "optimizer.momentum"),
        (["optimizer.name=sgd", "optimizer.dampening=-0.5"], "optimizer.dampening"),
    ],
)
def test_sgd_ranges(registry, overrides, key):
    assert "must be in [0, 1]" in problems_of(QUICKSTART, registry, overrides)[key].message


class KeywordOptimizer(torch.optim.SGD):
    """An optimizer taking every option as ``**kwargs``, as some third-party optimizers do."""

    def __init__(self, params, **options) -> None:
        super().__init__(params, **options)


def test_optimizer_ranges_apply_to_keyword_options(registry, monkeypatch):
    module = types.ModuleType("mmzoo_test_optimizers")
    module.KeywordOptimizer = KeywordOptimizer
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # As if an installed mmzoo plugin provided it: recipes import classes only from such packages.
    monkeypatch.setattr("mmzoo.optim.TRUSTED_PACKAGES", ("torch", module.__name__))
    name = "optimizer.name=mmzoo_test_optimizers.KeywordOptimizer"
    load_recipe(QUICKSTART, [name, "optimizer.lr=0.1", "optimizer.momentum=0.9"], registry)
    found = problems_of(QUICKSTART, registry, [name, "optimizer.lr=-0.1", "optimizer.momentum=2"])
    assert "must be >= 0, got the number -0.1" in found["optimizer.lr"].message
    assert "must be in [0, 1], got the integer 2" in found["optimizer.momentum"].message


def test_scheduler_options_are_not_optimizer_ranges(tmp_path, registry):
    # `eps` of ReduceLROnPlateau is a scheduler option: the optimizer's ranges do not apply to it.
    path = tmp_path / "plateau.yaml"
    path.write_text(
        f"extends: {QUICKSTART}\n"
        "scheduler: {name: torch.optim.lr_scheduler.ReduceLROnPlateau, monitor: val/loss, eps: 0}\n"
    )
    load_recipe(path, [], registry)


def test_max_epochs_zero_stops_before_any_run_directory(tmp_path, capsys):
    root = tmp_path / "runs"
    code = main(["fit", str(QUICKSTART), f"run.root={root}", "trainer.max_epochs=0"])
    assert code == EXIT_USER
    err = capsys.readouterr().err
    assert "command line (trainer.max_epochs=0): trainer.max_epochs: expected -1 | int >= 1 | null" in err
    assert not root.exists()
