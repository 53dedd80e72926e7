"""A shipped recipe on 2 CPU processes (FSDP2 over gloo) against 1 process: same loss curve.

The runs start ``mmzoo fit`` as users do; Lightning launches the second process. The reference is
one DDP process: like every distributed run it draws its batches from Lightning's
``DistributedSampler`` (seeded), so 2 processes with half the batch each see the same global
batches as 1 process with the whole batch. Without dropout the per-step training loss must agree
up to float32 reduction order. Gradient clipping is tight enough to act on every step and gradients are
accumulated over 2 batches, so both must be correct under sharding. The FSDP run stops after one
epoch and resumes from its sharded checkpoint for the second: the resumed curve must continue the
reference.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "recipes" / "quickstart.yaml"

COMMON = [
    "data.train_size=256",
    "data.val_size=64",
    "data.test_size=64",
    "model.encoders.audio.dropout=0.0",
    "model.encoders.text.dropout=0.0",
    "model.fusion.dropout=0.0",
    "trainer.gradient_clip_val=0.05",
    "trainer.accumulate_grad_batches=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger.wandb.mode=disabled",
]


def _fit(cwd: Path, target: str | Path, *arguments: str) -> Path:
    command = [sys.executable, "-m", "mmzoo", "fit", str(target), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    runs = sorted((cwd / "runs" / "quickstart").iterdir())
    return runs[-1]


def _step_losses(run_dir: Path) -> list[float]:
    with (run_dir / "metrics.csv").open() as handle:
        return [float(row["train/loss_step"]) for row in csv.DictReader(handle) if row.get("train/loss_step")]


@pytest.mark.slow
def test_fsdp_on_two_cpu_processes_follows_the_single_process_loss_curve_and_resumes(tmp_path):
    single = tmp_path / "single"
    single.mkdir()
    one_process = ["trainer.strategy=ddp", "trainer.devices=1", "data.batch_size=32"]
    reference_run = _fit(single, QUICKSTART, *COMMON, *one_process, "trainer.max_epochs=2")
    reference = _step_losses(reference_run)
    assert len(reference) == 8  # 2 epochs of 4 optimizer steps (8 batches, accumulated by 2)

    sharded = tmp_path / "sharded"
    sharded.mkdir()
    fsdp = ["trainer.strategy=fsdp", "trainer.devices=2", "data.batch_size=16"]
    first_run = _fit(sharded, QUICKSTART, *COMMON, *fsdp, "trainer.max_epochs=1")
    last = first_run / "checkpoints" / "last.ckpt"
    assert last.is_dir() and (last / "meta.pt").is_file()  # sharded: one file per process
    assert len(list(last.glob("*.distcp"))) == 2
    resumed_run = _fit(sharded, first_run, "--resume", "last", "trainer.max_epochs=2")
    assert resumed_run != first_run

    first, resumed = _step_losses(first_run), _step_losses(resumed_run)
    assert len(first) == 4 and len(resumed) == 4
    assert first + resumed == pytest.approx(reference, rel=1e-4, abs=1e-5)  # measured: within 3e-7
    assert reference[-1] < reference[0]  # the curve being compared is a learning one

    # The sharded best checkpoint evaluates in one process, without a process group.
    results = json.loads((resumed_run / "results.json").read_text())
    assert Path(results["best_checkpoint"]).is_dir()
    tested = subprocess.run(
        [sys.executable, "-m", "mmzoo", "test", str(resumed_run), "trainer.devices=1", "trainer.strategy=auto"],
        capture_output=True,
        text=True,
        cwd=sharded,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stderr[-3000:]


@pytest.mark.slow
def test_torchrun_processes_share_one_run_directory(tiny_recipe, tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "-m",
        "mmzoo",
        "fit",
        str(tiny_recipe),
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.max_epochs=1",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MMZOO_RUN_DIR"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert run_dir.name.startswith("torchrun-") and run_dir.name.endswith("-fit")
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert done.stdout.count("-> run directory") == 1  # announced once, by rank 0


@pytest.mark.slow
def test_fsdp_full_checkpoints_are_single_files_that_resume(tiny_recipe, tmp_path):
    strategy = "trainer.strategy={name: fsdp, checkpoint: full}"
    command = [sys.executable, "-m", "mmzoo", "fit", str(tiny_recipe), strategy, "trainer.max_epochs=1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (first,) = (tmp_path / "runs" / "tiny").iterdir()
    last = first / "checkpoints" / "last.ckpt"
    assert last.is_file()  # one ordinary file, written by rank 0

    import torch

    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 4 and "encoders.audio.input.proj.weight" in state["state_dict"]
    resume = [sys.executable, "-m", "mmzoo", "fit", str(first), "--resume", "last", "trainer.max_epochs=2"]
    done = subprocess.run(resume, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    second = max((tmp_path / "runs" / "tiny").iterdir())
    resumed = torch.load(second / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 8 and resumed["epoch"] == 1
