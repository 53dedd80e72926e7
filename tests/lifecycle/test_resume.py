"""A run killed (SIGKILL) or preempted (SIGTERM, SIGUSR1) inside an epoch and resumed with ``--resume last``
continues bit for bit as if it had never stopped: the same loss at every step, the same final metrics.

Each test trains the quickstart recipe uninterrupted, then again in a process that is stopped right after
a checkpoint saved inside an epoch, then resumes that run, and compares the per-step training losses of
``metrics.csv`` (``log_every_n_steps=1``) and ``results.json``.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ..conftest import RECIPES

pytestmark = pytest.mark.slow

EXIT_INTERRUPTED = 75


def settings(root: Path, epochs: int, extra: list[str]) -> list[str]:
    return [
        str(RECIPES / "quickstart.yaml"),
        f"run.root={root}",
        f"trainer.max_epochs={epochs}",
        "data.train_size=256",
        "data.val_size=64",
        "logger.wandb.mode=disabled",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "checkpoint.every_n_steps=3",
        *extra,
    ]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mmzoo", "fit", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def finish(process: subprocess.Popen, expected: int = 0) -> str:
    err = process.communicate(timeout=900)[1].decode()
    assert process.returncode == expected, err[-3000:]
    return err


def saved_inside_an_epoch(run_group: Path) -> int | None:
    """The step of a ``last.ckpt`` saved inside an epoch, once one exists (file or sharded folder)."""
    for last in run_group.glob("*-fit/checkpoints/last.ckpt"):
        try:
            state = torch.load(last / "meta.pt" if last.is_dir() else last, weights_only=True)
        except Exception:  # a folder between its two renames: look again
            return None
        progress = state["loops"]["fit_loop"]["epoch_loop.batch_progress"]
        if not progress["is_last_batch"] and state["global_step"] >= 3:
            return state["global_step"]
    return None


def losses(run_dir: Path) -> dict[int, str]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return {int(r["step"]): r["train/loss_step"] for r in csv.DictReader(handle) if r.get("train/loss_step")}


def compare(full: Path, resumed: Path, from_step: int) -> None:
    expected, got = losses(full), losses(resumed)
    steps = sorted(step for step in got if step >= from_step)
    assert steps and steps[-1] == max(expected), "the resumed run trains to the end"
    differing = [step for step in steps if got[step] != expected[step]]
    assert not differing, f"steps {differing[:5]} differ after resuming at step {from_step}"
    metrics = [json.loads((run / "results.json").read_text())["metrics"] for run in (full, resumed)]
    assert metrics[0] == metrics[1]


def interrupt_and_resume(tmp_path: Path, extra: list[str], how: signal.Signals, epochs: int = 4) -> None:
    full = start([*settings(tmp_path, epochs, extra), "run.name=full"], tmp_path)
    finish(full)
    stopped = start([*settings(tmp_path, epochs, extra), "run.name=stopped"], tmp_path)
    step = None
    while stopped.poll() is None and step is None:
        step = saved_inside_an_epoch(tmp_path / "stopped")
        time.sleep(0.02)
    assert step is not None, "the run ended before a checkpoint inside an epoch could be caught"
    stopped.send_signal(how)
    if how != signal.SIGKILL:
        stopped.send_signal(how)  # a second signal during the save changes nothing
    err = finish(stopped, -9 if how == signal.SIGKILL else EXIT_INTERRUPTED)
    (run_dir,) = (tmp_path / "stopped").glob("*-fit")
    if how != signal.SIGKILL:
        summary = json.loads((run_dir / "results.json").read_text())
        assert summary["status"] == "interrupted" and summary["interrupted"]["signal"] == how.name
        step = summary["interrupted"]["step"]
        assert "--resume last" in err and "Traceback" not in err
    resumed = start([str(run_dir), "--resume", "last", "trainer.enable_progress_bar=false"], tmp_path)
    finish(resumed)
    newest = max((tmp_path / "stopped").glob("*-fit"), key=lambda p: p.name)
    compare(next((tmp_path / "full").glob("*-fit")), newest, step)


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_inside_an_epoch_resumes_bit_for_bit(tmp_path, workers):
    interrupt_and_resume(tmp_path, [f"data.num_workers={workers}"], signal.SIGKILL)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGUSR1])
def test_preemption_saves_exits_75_and_resumes_bit_for_bit(tmp_path, how):
    interrupt_and_resume(tmp_path, [], how)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_runs_resume_bit_for_bit(tmp_path, strategy):
    extra = [f"trainer.strategy={strategy}", "trainer.devices=2", "trainer.accelerator=cpu"]
    interrupt_and_resume(tmp_path, extra, signal.SIGKILL, epochs=3)
