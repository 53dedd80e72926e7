"""Suites, the state of their runs, and the leaderboard computed from run directories (no training here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from mmzoo.bench.aggregate import collect, paired_difference, rank
from mmzoo.bench.report import PLOTS, write_report
from mmzoo.bench.runner import _state, jobs
from mmzoo.bench.suite import SuiteError, load_suite

from ..conftest import RECIPES

DIGITS = str(RECIPES / "digits" / "audio_image.yaml")


def suite_file(tmp_path: Path, **fields) -> Path:
    data = {"name": "s", "recipe": DIGITS, "cells": {"concat": {}, "gated": {"model.fusion": {"name": "gated", "dim": 64}}}, "seeds": [0, 1, 2], "baseline": "concat"}  # fmt: skip
    data.update(fields)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_suite_expands_into_cells_and_seeds_with_component_swaps(tmp_path):
    suite = load_suite(suite_file(tmp_path, overrides=["trainer.max_epochs=2"]))
    assert [c.label for c in suite.cells] == ["concat", "gated"]
    assert suite.cells[1].overrides == ("trainer.max_epochs=2", "model.fusion={name: gated, dim: 64}")
    runs = jobs(suite, tmp_path / "runs")
    assert len(runs) == 6
    assert runs[4].group == tmp_path / "runs" / "s" / "gated" / "seed-1"
    assert runs[4].overrides(suite)[-4:-1] == ["seed=1", f"run.root={tmp_path / 'runs' / 's' / 'gated'}", "run.name=seed-1"]


def test_every_problem_of_a_suite_is_reported_with_its_line(tmp_path):
    path = suite_file(tmp_path, seeds=[1, 1], baseline="concatt", mode="best", cellz={})
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    text = caught.value.render()
    for expected in ("cellz: unknown key", "seeds: lists a seed twice", "'concatt' is not a cell (did you mean 'concat'?)", "mode: must be min or max"):
        assert expected in text
    assert f"{path}:" in text


def test_recipes_with_the_same_file_name_get_their_folder_in_the_label(tmp_path):
    suite = load_suite(_two(tmp_path))
    assert [c.label for c in suite.cells][:2] == ["digits-audio_image/concat", "clip-audio_image/concat"]
    assert suite.cells[0].folder == "digits-audio_image--concat"


def _two(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({"recipes": [DIGITS, str(RECIPES / "clip" / "audio_image.yaml")], "cells": {"concat": {}}}))
    return path


def fake_run(group: Path, stamp: str, command: str, metrics: dict | None, *, last: bool = False, wall: float = 10.0) -> Path:
    """A run directory as mmzoo writes one: recipe.yaml, and results.json when it completed."""
    run = group / f"{stamp}-{command}"
    run.mkdir(parents=True)
    (run / "recipe.yaml").write_text(yaml.safe_dump({"checkpoint": {"monitor": "val/acc", "mode": "max"}}))
    if metrics is not None:
        (run / "results.json").write_text(json.dumps({"status": "completed", "metrics": metrics, "wall_seconds": wall}))
    if last:
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    return run


def test_the_state_of_each_job_comes_from_its_run_directories(tmp_path):
    suite = load_suite(suite_file(tmp_path, test=True))
    root = tmp_path / "runs"
    first, second, third = jobs(suite, root)[:3]
    fake_run(first.group, "20260101-000000", "fit", {"val/acc": 0.5})
    fake_run(first.group, "20260101-000100", "test", {"test/acc": 0.4})
    fake_run(second.group, "20260101-000000", "fit", {"val/acc": 0.5})
    fake_run(third.group, "20260101-000000", "fit", None, last=True)
    assert _state(first, True)[0] == "done"
    assert _state(second, True)[0] == "test"
    assert _state(third, True)[0] == "resume"
    assert _state(jobs(suite, root)[3], True)[0] == "fit"


def test_leaderboard_statistics_and_the_paired_comparison(tmp_path):
    suite = load_suite(suite_file(tmp_path, metric="val/acc", mode="max"))
    root = tmp_path / "runs"
    scores = {"concat": [0.50, 0.60, 0.55], "gated": [0.60, 0.71, 0.64]}
    for job in jobs(suite, root):
        fake_run(job.group, "20260101-000000", "fit", {"val/acc": scores[job.cell.label][job.seed], "val/loss": 1.0})
    rows = rank(collect(suite, root))
    assert [r.label for r in rows] == ["gated", "concat"]
    assert rows[0].score == pytest.approx(sum(scores["gated"]) / 3)
    diff, half, n = paired_difference(rows[0], rows[1], "val/acc")
    differences = [g - c for g, c in zip(scores["gated"], scores["concat"], strict=True)]
    mean = sum(differences) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / 2)
    assert (diff, n) == (pytest.approx(mean), 3) and half == pytest.approx(4.303 * sd / math.sqrt(3))
    assert rows[0].cost_values("wall s") == [10.0, 10.0, 10.0]

    device = {"type": "cpu", "name": "Test CPU", "cpus": 2, "processes": 1}
    for row in rows:
        for result in row.seeds:  # what the tracking callback writes
            (result.fit_dir / "run.json").write_text(json.dumps({"device": device, "versions": {"torch": "9.9"}}))
    _, files = write_report(suite, root)
    names = {f.name for f in files}
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.json", PLOTS["metric"]} <= names
    page = (root / "s" / "leaderboard.md").read_text()
    assert "| 1 | `gated` | 0.6500 ± 0.0557 | +0.1000 [" in page and " *" in page  # the interval excludes 0
    assert "Machine: Test CPU (cpu, 2 cores, 1 process), torch 9.9." in page  # where the runs ran, once
    record = json.loads((root / "s" / "leaderboard.json").read_text())["cells"][0]
    assert record["metrics"]["val/acc"]["vs_baseline"]["significant"] is True


def test_seeds_still_missing_are_listed_and_not_counted(tmp_path):
    suite = load_suite(suite_file(tmp_path, metric="val/acc"))
    root = tmp_path / "runs"
    for job in jobs(suite, root):
        if job.seed != 2:
            fake_run(job.group, "20260101-000000", "fit", {"val/acc": 0.5})
    rows = collect(suite, root)
    assert all(row.missing == [2] and len(row.seeds) == 2 for row in rows)


def test_parallel_runs_overlap_and_each_gets_its_own_gpu(tmp_path, monkeypatch):
    import threading
    import time

    import torch

    from mmzoo.bench import runner

    suite = load_suite(suite_file(tmp_path))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    running, peak, devices, lock = [0], [0], set(), threading.Lock()

    def fake_run(job, suite, logs, env):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            devices.add(env["CUDA_VISIBLE_DEVICES"])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return runner.Outcome(job=job, state="fit", code=0, seconds=0.2, log=None)

    monkeypatch.setattr(runner, "_run_job", fake_run)
    lines: list[str] = []
    outcomes = runner.run_suite(suite, tmp_path / "runs", parallel=2, report=lines.append)
    assert len(outcomes) == len(jobs(suite, tmp_path / "runs")) and peak[0] == 2
    assert devices == {"0", "1"}
    assert lines[-1].startswith(f"[{len(outcomes)}/{len(outcomes)}]") and "left" in lines[0]
