"""A suite written from docs/bench.md, end to end on the CPU: 2 fusions x 2 seeds of the digits recipe
with trimmed epochs, killed half-way and run again, then its leaderboard, plots and offline W&B runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import REPO
from ..tracking.conftest import isolate_wandb
from ..tracking.wandb_files import offline_run

pytestmark = pytest.mark.slow

SUITE = """\
name: quick-fusions
recipe: recipes/digits/audio_image.yaml
overrides: [trainer.max_epochs=2, trainer.limit_train_batches=4, trainer.limit_val_batches=2, trainer.log_every_n_steps=1,
            logger.wandb.log_model=true]
cells:
  concat: {}
  gated: {model.fusion: {name: gated, dim: 32}}
seeds: [0, 1]
baseline: concat
test: true
"""


def bench(suite: Path, root: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mmzoo", "bench", str(suite), "--root", str(root)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs,
    )  # fmt: skip


def test_a_suite_runs_resumes_and_reports(tmp_path, monkeypatch):
    isolate_wandb(monkeypatch, tmp_path / "wandb-home")
    suite = tmp_path / "quick.yaml"
    suite.write_text(SUITE)
    root = tmp_path / "runs"
    folder = root / "quick-fusions"

    # Killed (the whole process group) once the first (cell, seed) is complete.
    first = bench(suite, root)
    deadline = time.monotonic() + 600
    while first.poll() is None and time.monotonic() < deadline:
        if list((folder / "concat" / "seed-0").glob("*-test/results.json")):
            os.killpg(first.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    first.wait(timeout=60)
    assert not (folder / "leaderboard.md").exists()

    second = bench(suite, root)
    output = second.communicate(timeout=1200)[0]
    assert second.returncode == 0, output[-3000:]
    assert "concat seed 0: done earlier, skipped" in output
    assert "[4/4]" in output

    board = json.loads((folder / "leaderboard.json").read_text())
    assert {cell["cell"] for cell in board["cells"]} == {"concat", "gated"}
    for cell in board["cells"]:
        assert cell["seeds"] == [0, 1] and not cell["missing_seeds"]
        assert "test/digit/accuracy" in cell["metrics"] and cell["costs"]["samples/s"]["mean"] > 0
        assert cell["costs"]["params"]["mean"] > 0 and cell["costs"]["wall s"]["mean"] > 0
    gated = next(cell for cell in board["cells"] if cell["cell"] == "gated")
    assert gated["metrics"]["val/digit/accuracy"]["vs_baseline"]["seeds"] == 2
    for name in ("leaderboard.md", "leaderboard.csv", "metric.png", "metric-vs-throughput.png", "metric-vs-parameters.png"):
        assert (folder / name).stat().st_size > 0

    fit_dir = max((folder / "gated" / "seed-1").glob("*-fit"))
    fit = offline_run(fit_dir)
    assert fit.run.run_group == "quick-fusions" and fit.run.job_type == "fit"
    assert "fusion:gated" in fit.run.tags
    config = fit.config
    assert config["model"]["fusion"] == {**config["model"]["fusion"], "name": "gated", "dim": 32}
    assert "hidden_dim" not in config["model"]["fusion"], "the swapped fusion kept none of concat's options"
    assert config["versions"]["mmzoo"] and config["parameters"]["total"] > 0
    assert {a.type for a in fit.artifacts} >= {"model"}

    test_dir = max((folder / "gated" / "seed-1").glob("*-test"))
    tested = offline_run(test_dir)
    assert tested.run.job_type == "test" and tested.run.run_group == "quick-fusions"
    assert tested.config["lineage"]["run_dir"] == str(fit_dir)
