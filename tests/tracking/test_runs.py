"""Small offline runs, read back from their W&B files: what a run carries, and how runs link up.

One fit (two epochs, checkpoints uploaded) is shared by the tests of this module; a test run and a
predict run evaluate its checkpoints.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from mmzoo.run import run_recipe
from mmzoo.tracking import RUN_FILE, read_run_file

from ..conftest import TINY_RECIPE
from .wandb_files import OfflineRun, offline_run

pytestmark = pytest.mark.slow

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
# 4 optimizer steps an epoch; the loggers write every 2nd; clipping far below the real norms.
FIT = [*QUIET, "logger.wandb.mode=offline", "logger.wandb.log_model=true", "logger.wandb.tags=[mine]",
       "trainer.log_every_n_steps=2", "trainer.gradient_clip_val=0.0001"]  # fmt: skip
CLIP = 0.0001


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="module")
def fit(tmp_path_factory, module_wandb_home, registry) -> tuple[Path, OfflineRun, str]:
    """The fit run: its directory, its W&B run, and the git commit of its recipe's repository."""
    root = tmp_path_factory.mktemp("tracking")
    repository = root / "project"
    repository.mkdir()
    recipe = repository / "tiny.yaml"
    recipe.write_text(TINY_RECIPE.format(root=root / "runs"))
    _git(repository, "init", "-q")
    _git(repository, "add", "tiny.yaml")
    _git(repository, "commit", "-q", "-m", "recipe")
    result = run_recipe("fit", recipe, FIT, registry=registry, argv=["fit", str(recipe), *FIT])
    return result.run_dir, offline_run(result.run_dir), _git(repository, "rev-parse", "HEAD")


def test_the_run_is_named_grouped_and_tagged(fit):
    run_dir, run, _ = fit
    assert run.run.display_name == run_dir.name and run.run.run_group == "tiny" and run.run.job_type == "fit"
    assert run.run.project == "mmzoo"
    assert list(run.run.tags) == ["mine", "audio:conv1d", "text:bag", "fusion:concat", "head:classification",
                                  "objective:cross_entropy", "data:tones_and_words"]  # fmt: skip


def test_the_config_is_logged_once_and_holds_everything(fit, registry):
    run_dir, run, commit = fit
    updates = [update for update in run.config_updates() if set(update) - {"_wandb"}]
    assert len(updates) == 1, "the config is sent in one piece"
    config = updates[0]
    assert "recipe" not in config, "Lightning's hyperparameters (the recipe again) are not logged"
    # The recipe, with the defaults it leaves out.
    assert config["model"]["encoders"]["audio"]["kernel_size"] == 5 and config["weighting"] == {"name": "fixed"}
    assert config["logger"]["wandb"]["log_model"] is True
    assert config["command"] == "fit" and config["overrides"] == FIT and config["argv"][0] == "fit"
    versions = config["versions"]
    assert versions["plugins"]["mmzoo"] == versions["mmzoo"] and versions["torch"] and versions["lightning"]
    assert "cuda" in versions and config["device"]["type"] == "cpu" and config["device"]["processes"] == 1
    assert config["parameters"]["trainable"] == config["parameters"]["total"] > 0
    assert config["git"] == {"commit": commit, "dirty": False}
    assert config["lineage"] is None
    # run.json: the same facts, without the recipe, with the W&B run.
    facts = read_run_file(run_dir)
    assert {k: facts[k] for k in ("command", "overrides", "versions", "parameters", "git")} == {
        k: config[k] for k in ("command", "overrides", "versions", "parameters", "git")
    }
    assert "model" not in facts and facts["wandb"]["id"] == run.run.run_id and facts["wandb"]["job_type"] == "fit"


def test_training_metrics_are_logged_on_the_logged_steps(fit):
    run_dir, run, _ = fit
    loss_steps = [step for step, _ in run.series("train/loss_step")]
    assert loss_steps == [1, 3, 5, 7]  # every 2nd of 8 steps
    for key in ("train/lr", "train/grad_norm", "train/step_time", "train/samples_per_sec"):
        assert [step for step, _ in run.series(key)] == loss_steps, key
    assert all(norm > CLIP * 10 for _, norm in run.series("train/grad_norm")), "the norm before clipping"
    assert all(lr == pytest.approx(0.003) for _, lr in run.series("train/lr"))
    assert all(value > 0 for key in ("train/step_time", "train/samples_per_sec") for _, value in run.series(key))
    assert len(run.series("memory/peak_rss_mib")) == 2  # once an epoch
    # The CSV logger gets them too.
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for row in rows if row.get("train/grad_norm")) == 4
    assert sum(1 for row in rows if row.get("memory/peak_rss_mib")) == 2


def test_log_model_uploads_the_best_and_last_checkpoints(fit):
    run_dir, run, _ = fit
    name = f"model-{run.run.run_id}"
    uploaded = [set(a.aliases) for a in run.artifacts if a.name == name and a.type == "model"]
    assert len(uploaded) == 2 and {"best", "last"} <= set.union(*uploaded)  # W&B adds "latest"
    for artifact in run.artifacts:
        assert [entry.path for entry in artifact.manifest.contents] == ["model.ckpt"]
    best = json.loads((run_dir / "results.json").read_text())["best_checkpoint"]
    recorded = read_run_file(run_dir)["artifacts"]["checkpoints"]
    assert recorded == {
        "name": name,
        "aliases": {f"checkpoints/{Path(best).name}": "best", "checkpoints/last.ckpt": "last"},
    }


def test_a_test_run_records_its_lineage(fit, registry):
    fit_dir, fit_run, _ = fit
    result = run_recipe("test", fit_dir, QUIET, registry=registry)
    run = offline_run(result.run_dir)
    assert run.run.run_id != fit_run.run.run_id, "each command has a W&B run of its own"
    assert run.run.job_type == "test" and run.run.run_group == "tiny" and run.run.display_name == result.run_dir.name
    lineage = run.config["lineage"]
    best = json.loads((fit_dir / "results.json").read_text())["best_checkpoint"]
    assert lineage == {
        "checkpoint": str(Path(best).resolve()),
        "run_dir": str(fit_dir.resolve()),
        "wandb_run_id": fit_run.run.run_id,
        "wandb_project": "mmzoo",
        "artifact": f"model-{fit_run.run.run_id}:best",
    }
    assert read_run_file(result.run_dir)["lineage"] == lineage
    # Offline, W&B cannot use artifacts: no use_artifact record, the config keeps the lineage.
    assert not run.of("use_artifact")
    assert run.config["parameters"] == fit_run.config["parameters"]


def test_predict_uploads_its_predictions(fit, registry):
    fit_dir, _, _ = fit
    result = run_recipe("predict", fit_dir, QUIET, ckpt="last", registry=registry)
    run = offline_run(result.run_dir)
    (artifact,) = [a for a in run.artifacts if a.type == "predictions"]
    assert artifact.name == f"predictions-{run.run.run_id}"
    assert [entry.path for entry in artifact.manifest.contents] == ["predictions.jsonl"]
    assert run.config["lineage"]["artifact"].endswith(":last") and run.run.job_type == "predict"
    assert read_run_file(result.run_dir)["artifacts"] == {"predictions": artifact.name}


def test_wandb_mode_disabled_wins_over_the_recipe(tiny_recipe, registry, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    result = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=1", "logger.wandb.mode=offline"],
                        registry=registry)  # fmt: skip
    assert not (result.run_dir / "wandb").exists()
    facts = json.loads((result.run_dir / RUN_FILE).read_text())
    assert facts["wandb"] == {"mode": "disabled"} and facts["git"] is None and facts["parameters"]["total"] > 0
