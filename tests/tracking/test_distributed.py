"""Training metrics under FSDP2 on 2 CPU processes: the gradient norm of sharded gradients is the
whole model's, as in one process; one W&B run (rank 0's) carries it.

Both runs see the same global batches (see tests/scaling/test_distributed_runs.py), so their
gradients, and norms before clipping, agree up to float32 reduction order.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmzoo.tracking import read_run_file

from .wandb_files import offline_run

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "recipes" / "quickstart.yaml"

COMMON = [
    "data.train_size=128",
    "data.val_size=32",
    "data.test_size=32",
    "model.encoders.audio.dropout=0.0",
    "model.encoders.text.dropout=0.0",
    "model.fusion.dropout=0.0",
    "trainer.gradient_clip_val=0.05",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger.wandb.mode=offline",
    "logger.wandb.log_model=true",
]


def _fit(cwd: Path, *arguments: str) -> Path:
    done = subprocess.run([sys.executable, "-m", "mmzoo", "fit", str(QUICKSTART), *COMMON, *arguments],
                          capture_output=True, text=True, cwd=cwd, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    (run_dir,) = (cwd / "runs" / "quickstart").iterdir()
    return run_dir


@pytest.mark.slow
def test_gradient_norm_and_artifacts_under_fsdp(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    single = offline_run(_fit(tmp_path / "one", "trainer.strategy=ddp", "trainer.devices=1", "data.batch_size=32"))
    sharded_dir = _fit(tmp_path / "two", "trainer.strategy=fsdp", "trainer.devices=2", "data.batch_size=16")
    sharded = offline_run(sharded_dir)
    reference = [norm for _, norm in single.series("train/grad_norm")]
    assert len(reference) == 4 and all(norm > 0.05 for norm in reference)  # before clipping
    assert [norm for _, norm in sharded.series("train/grad_norm")] == pytest.approx(reference, rel=1e-4)
    assert sharded.config["device"]["processes"] == 2
    assert sharded.config["parameters"] == single.config["parameters"]
    # last.ckpt is a sharded folder, uploaded as one; Lightning uploads no sharded best checkpoint.
    (artifact,) = sharded.artifacts
    assert "last" in artifact.aliases and all(e.path.startswith("model.ckpt/") for e in artifact.manifest.contents)
    assert read_run_file(sharded_dir)["artifacts"]["checkpoints"]["aliases"] == {"checkpoints/last.ckpt": "last"}
