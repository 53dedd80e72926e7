"""End to end: fit, validate, test, predict, resume, and failures that must not lose work."""

from __future__ import annotations

import json
import types

import pytest
import torch

import mmzoo
from mmzoo.errors import BuildError, NonFiniteLossError, RecipeError, RunError
from mmzoo.objectives.cross_entropy import CrossEntropyObjective
from mmzoo.plugins import load_registry
from mmzoo.run import run_recipe


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One tiny training run shared by the tests that read it."""
    from .conftest import TINY_RECIPE

    root = tmp_path_factory.mktemp("fitted")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY_RECIPE.format(root=root / "runs"))
    result = run_recipe("fit", recipe)
    return recipe, result


def test_fit_writes_a_complete_run_directory(fitted):
    _, result = fitted
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"recipe.yaml", "checkpoints", "metrics.csv", "results.json"} <= names
    assert (result.run_dir / "checkpoints" / "last.ckpt").is_file()
    assert result.checkpoint is not None and result.checkpoint.name.startswith("best-")
    assert 0.0 <= result.metrics["val/label/accuracy"] <= 1.0
    summary = json.loads((result.run_dir / "results.json").read_text())
    assert summary["best_checkpoint"] == str(result.checkpoint)
    header = (result.run_dir / "recipe.yaml").read_text().splitlines()[0]
    assert header.startswith("# Resolved by mmzoo")
    assert "epoch" in (result.run_dir / "metrics.csv").read_text().splitlines()[0]


def test_validate_from_the_run_directory_reproduces_fit_metrics(fitted):
    _, fit = fitted
    result = run_recipe("validate", fit.run_dir)
    assert result.run_dir != fit.run_dir
    assert result.checkpoint == fit.checkpoint
    assert result.metrics["val/label/accuracy"] == pytest.approx(fit.metrics["val/label/accuracy"])
    assert result.metrics["val/loss"] == pytest.approx(fit.metrics["val/loss"], rel=1e-5)


def test_test_and_predict(fitted):
    recipe, _ = fitted
    tested = run_recipe("test", recipe, ckpt="last")
    assert "test/label/macro_f1" in tested.metrics
    predicted = run_recipe("predict", recipe)
    rows = [json.loads(line) for line in predicted.predictions.read_text().splitlines()]
    assert len(rows) == 32
    assert len({row["id"] for row in rows}) == 32
    for row in rows:
        assert row["label"]["label"] in (0, 1)
        assert sum(row["label"]["probs"]) == pytest.approx(1.0, abs=1e-5)
        assert row["label"]["label"] == max(range(2), key=lambda k: row["label"]["probs"][k])


def test_resume_continues_from_the_last_checkpoint(fitted):
    recipe, fit = fitted
    resumed = run_recipe("fit", recipe, ["trainer.max_epochs=3"], ckpt="last")
    assert resumed.run_dir != fit.run_dir
    first = torch.load(fit.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    second = torch.load(resumed.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    steps_per_epoch = first["global_step"] // 2
    assert (first["epoch"], second["epoch"]) == (1, 2)
    assert second["global_step"] == first["global_step"] + steps_per_epoch
    logged_epochs = {line.split(",")[0] for line in (resumed.run_dir / "metrics.csv").read_text().splitlines()[1:]}
    assert not logged_epochs & {"0", "1"}, "a resumed run trains only the remaining epoch"
    assert (fit.run_dir / "checkpoints" / "last.ckpt").is_file(), "the earlier run is untouched"


def test_checkpoint_that_does_not_fit_the_model(fitted):
    recipe, fit = fitted
    with pytest.raises(RunError, match="does not fit the model of this recipe"):
        run_recipe("validate", recipe, ["model.fusion.dim=8"], ckpt=str(fit.run_dir / "checkpoints" / "last.ckpt"))


def test_the_newest_run_is_the_newest_of_the_same_model(fitted):
    """--ckpt last with a recipe whose model no run of the group built: the error lists the runs and how
    they differ, instead of loading a checkpoint of another model."""
    recipe, fit = fitted
    with pytest.raises(RunError) as caught:
        run_recipe("validate", recipe, ["model.fusion.dim=8"], ckpt="last")
    text = caught.value.render()
    assert "no fit run" in text and str(fit.run_dir) in text
    assert "model.fusion.dim: 16 there, 8 here" in text
    assert "mmzoo runs" in text


def test_a_default_written_out_is_the_same_model(fitted):
    """The fingerprint is of the full form: setting an option to its default finds the same run."""
    recipe, fit = fitted
    saved = (fit.run_dir / "recipe.yaml").read_text()
    assert "dropout: 0.1" in saved, "recipe.yaml saves every component option, defaults included"
    newest = max(fit.run_dir.parent.glob("*-fit*"))  # earlier tests of this module may have added fit runs
    again = run_recipe("validate", recipe, ["model.fusion.dropout=0.1"], ckpt="last")
    assert again.checkpoint == newest / "checkpoints" / "last.ckpt"


def test_missing_or_corrupt_checkpoint(fitted, tmp_path):
    recipe, _ = fitted
    with pytest.raises(RunError, match="checkpoint not found"):
        run_recipe("validate", recipe, ckpt=str(tmp_path / "nope.ckpt"))
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="cannot be read"):
        run_recipe("validate", recipe, ckpt=str(corrupt))


def test_no_checkpoint_yet(tiny_recipe):
    with pytest.raises(RunError, match="no 'best' checkpoint found"):
        run_recipe("validate", tiny_recipe)


def test_errors_before_running_leave_runs_untouched(fitted):
    recipe, fit = fitted
    group = fit.run_dir.parent
    before = sorted(p.name for p in group.iterdir())
    with pytest.raises(RecipeError):
        run_recipe("fit", recipe, ["model.fusion.name=nope"])
    with pytest.raises(BuildError):
        run_recipe("fit", recipe, ["model.encoders.audio.kernel_size=4"])
    assert sorted(p.name for p in group.iterdir()) == before


class NanAfterFirstEpoch(CrossEntropyObjective):
    """Cross-entropy that turns NaN after a few training steps."""

    def __init__(self, head: str, target: str, heads=None, after: int = 4) -> None:
        super().__init__(head=head, target=target, heads=heads)
        self.after = after
        self.calls = 0

    def forward(self, outputs, batch):
        loss = super().forward(outputs, batch)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return loss * float("nan")
        return loss


def test_nan_loss_is_a_clear_error_and_keeps_earlier_checkpoints(tiny_recipe):
    plugin = types.SimpleNamespace(
        mmzoo_register_objectives=mmzoo.hookimpl(lambda registrar: registrar.add("nan_after", NanAfterFirstEpoch))
    )
    registry = load_registry(extra_plugins=[("nan-plugin", plugin)])
    with pytest.raises(NonFiniteLossError) as info:
        swap = "objectives.label={name: nan_after, head: label, target: label}"  # a new name keeps no options
        run_recipe("fit", tiny_recipe, [swap], registry=registry)
    assert "objectives with a non-finite loss: label" in info.value.message
    assert "global step 4" in info.value.message
    (run_dir,) = (tiny_recipe.parent / "runs" / "tiny").glob("*-fit")
    checkpoints = list((run_dir / "checkpoints").glob("*.ckpt"))
    assert checkpoints, "the checkpoint of the first epoch survives"
    state = torch.load(checkpoints[0], weights_only=False)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


@pytest.mark.slow
def test_fusion_beats_each_modality_alone(tmp_path):
    """The quickstart data needs both modalities: unimodal models stay near chance (1/4)."""
    from .conftest import RECIPES

    quick = [
        "trainer.max_epochs=8",  # 5 epochs reach 0.69-0.99 depending on the seed; 8 reach 1.0 for seeds 0, 2, 7
        "data.train_size=768",
        "data.val_size=256",
        f"run.root={tmp_path}",
        "logger.wandb.mode=disabled",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    recipe = RECIPES / "quickstart.yaml"
    fused = run_recipe("fit", recipe, quick).metrics["val/label/accuracy"]
    audio = run_recipe("fit", recipe, [*quick, "model.encoders.text=null"]).metrics["val/label/accuracy"]
    text = run_recipe("fit", recipe, [*quick, "model.encoders.audio=null"]).metrics["val/label/accuracy"]
    assert fused > 0.9
    assert audio < 0.4 and text < 0.4


def test_seed_makes_cpu_runs_reproducible(tiny_recipe):
    first = run_recipe("fit", tiny_recipe, ["trainer.max_epochs=1"])
    second = run_recipe("fit", tiny_recipe, ["trainer.max_epochs=1"])
    other = run_recipe("fit", tiny_recipe, ["trainer.max_epochs=1", "seed=4"])

    def weights(result):
        return torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]

    a, b, c = weights(first), weights(second), weights(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_trainer_section_reaches_lightning(tiny_recipe):
    result = run_recipe(
        "fit",
        tiny_recipe,
        [
            "trainer.max_epochs=null",
            "trainer.max_steps=3",
            "trainer.accumulate_grad_batches=2",
            "trainer.precision=bf16-mixed",
            "trainer.gradient_clip_val=0.5",
            "checkpoint.save_top_k=0",
            "scheduler={name: warmup_cosine, warmup_steps: 1}",
        ],
    )
    state = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 3  # optimizer steps, each over 2 batches
    assert state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"] == 6
    assert state["lr_schedulers"][0]["_last_lr"][0] < 0.003  # cosine decayed after warm-up
    assert result.checkpoint is None  # save_top_k=0 keeps no best checkpoint


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_shares_one_run_directory(tiny_recipe, tmp_path):
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "mmzoo",
        "fit",
        str(tiny_recipe),
        "trainer.strategy=ddp",
        "trainer.devices=2",
        "trainer.max_epochs=1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run_dir / "results.json").read_text())["metrics"]["val/label/accuracy"] >= 0.0


def test_runs_started_from_a_run_directory_stay_in_its_group(fitted):
    _, result = fitted
    predicted = run_recipe("predict", result.run_dir)
    assert predicted.run_dir.parent == result.run_dir.parent


def test_the_run_directory_is_not_left_in_the_environment(tiny_recipe, monkeypatch):
    import os

    from mmzoo.run_dirs import RUN_DIR_ENV

    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    run_recipe("fit", tiny_recipe, ["trainer.max_epochs=1"])
    assert RUN_DIR_ENV not in os.environ  # a later run, or a process this one starts, starts afresh
