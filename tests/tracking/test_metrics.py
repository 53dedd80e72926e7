"""Training metrics: learning rates, gradient norm, step time, throughput and peak memory."""

from __future__ import annotations

import csv

import pytest
import torch

from mmzoo.run import run_recipe
from mmzoo.tracking.metrics import TrainingMetrics, gradient_norm, peak_memory


def test_gradient_norm_is_the_norm_clipping_sees():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    model(torch.randn(5, 4)).sum().backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    norm = gradient_norm(optimizer)
    assert isinstance(norm, torch.Tensor)
    assert norm.item() == pytest.approx(torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-6).item())
    optimizer.zero_grad(set_to_none=True)
    assert gradient_norm(optimizer) is None


def test_every_param_group_has_its_learning_rate():
    first, second = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([{"params": [first], "lr": 0.1, "name": "encoders"}, {"params": [second]}], lr=0.01)
    callback = TrainingMetrics()
    callback.on_before_optimizer_step(None, None, optimizer)  # type: ignore[arg-type]
    assert callback._learning_rates == {"train/lr/encoders": 0.1, "train/lr/1": 0.01}


def test_peak_memory_off_cuda_is_the_process_peak():
    (key, mib), *_ = peak_memory(torch.device("cpu")).items()
    assert key == "memory/peak_rss_mib" and 10 < mib < 1024 * 1024


def test_steps_with_gradient_accumulation(tiny_recipe, registry):
    """Two batches of 16 rows per optimizer step; every optimizer step is logged."""
    overrides = ["trainer.max_epochs=1", "trainer.accumulate_grad_batches=2", "trainer.log_every_n_steps=1"]
    result = run_recipe("fit", tiny_recipe, overrides, registry=registry)
    with open(result.run_dir / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("train/grad_norm")]
    assert [int(row["step"]) for row in rows] == [0, 1]  # 4 batches, 2 optimizer steps
    for row in rows:
        assert float(row["train/lr"]) == pytest.approx(0.003) and float(row["train/grad_norm"]) > 0
        # rows/s x s/step = rows per optimizer step
        assert float(row["train/samples_per_sec"]) * float(row["train/step_time"]) == pytest.approx(32)
