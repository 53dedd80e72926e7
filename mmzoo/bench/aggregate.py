"""A suite's leaderboard, computed from its run directories alone.

For each (cell, seed) the newest completed ``fit`` run gives the final metrics (its ``results.json``:
the best checkpoint's validation metrics), and the newest completed ``test`` run the test metrics.
Costs come from the same folder: throughput, step time and peak memory from ``metrics.csv`` (the
medians of what the run logged per step and per epoch), parameter counts from ``run.json``, and wall
time from ``results.json``. A cell's row gives the mean and sample standard deviation over its seeds.

Against the baseline cell, each metric is compared seed by seed (the same seeds ran in both cells):
the mean of the paired differences with a 95 % Student-t interval; the row is marked where the
interval excludes zero.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzoo.bench.runner import jobs, newest_run, run_status
from mmzoo.bench.suite import Suite

__all__ = ["SeedResult", "CellRow", "collect", "rank", "paired_difference", "machines", "COSTS"]

#: Two-sided 95 % quantiles of Student's t by degrees of freedom (standard tables); 1.96 beyond.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip

#: Cost columns of the leaderboard: label -> (how it is read, unit).
COSTS: dict[str, str] = {
    "samples/s": "samples per second, median over logged steps",
    "step ms": "training step time in ms, median over logged steps",
    "peak MiB": "peak memory in MiB, the largest of the run (GPU allocated, or the process's RSS on CPU)",
    "params": "parameters, total",
    "trainable": "parameters, trainable",
    "wall s": "wall time of the fit run(s) in seconds",
}

# metrics.csv columns of the costs (written by mmzoo.tracking.metrics) and the factor to the unit shown.
_CSV_COSTS: dict[str, tuple[tuple[str, ...], float]] = {
    "samples/s": (("train/samples_per_sec",), 1.0),
    "step ms": (("train/step_time",), 1000.0),  # logged in seconds
    "peak MiB": (("memory/peak_allocated_mib", "memory/peak_rss_mib"), 1.0),
}


@dataclass
class SeedResult:
    """What one seed of a cell measured."""

    seed: int
    metrics: dict[str, float]
    costs: dict[str, float]
    fit_dir: Path


@dataclass
class CellRow:
    """One cell over its seeds."""

    label: str
    metric: str
    mode: str
    seeds: list[SeedResult] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        return [s.metrics[name] for s in self.seeds if name in s.metrics]

    def cost_values(self, name: str) -> list[float]:
        return [s.costs[name] for s in self.seeds if name in s.costs]

    def mean_std(self, values: list[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None

    @property
    def score(self) -> float | None:
        return self.mean_std(self.values(self.metric))[0]


def _column(path: Path, names: tuple[str, ...], summary: Callable[[list[float]], float]) -> float | None:
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for name in names:
        values = [float(r[name]) for r in rows if r.get(name) not in (None, "")]
        if values:
            return summary(values)
    return None


def _costs(runs: list[Path]) -> dict[str, float]:
    """Costs of a seed from its fit run(s) (several when it was resumed)."""
    newest = runs[-1]
    costs: dict[str, float] = {}
    for label, (names, factor) in _CSV_COSTS.items():
        value = _column(newest / "metrics.csv", names, max if label == "peak MiB" else statistics.median)
        if value is not None:
            costs[label] = value * factor
    facts = _read_json(newest / "run.json")
    parameters = facts.get("parameters") if isinstance(facts.get("parameters"), dict) else {}
    for label, key in (("params", "total"), ("trainable", "trainable")):
        if isinstance(parameters.get(key), int | float):
            costs[label] = float(parameters[key])
    walls = [_read_json(run / "results.json").get("wall_seconds") for run in runs]
    if walls and all(isinstance(w, int | float) for w in walls):
        costs["wall s"] = float(sum(walls))
    return costs


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _monitor(fit_dir: Path) -> tuple[str | None, str | None]:
    """The recipe's ``checkpoint.monitor`` and ``mode`` as the run saved them."""
    import yaml

    try:
        recipe = yaml.safe_load((fit_dir / "recipe.yaml").read_text(encoding="utf-8"))
        checkpoint = recipe.get("checkpoint") or {}
        return checkpoint.get("monitor"), checkpoint.get("mode")
    except (OSError, yaml.YAMLError, AttributeError):
        return None, None


def collect(suite: Suite, root: Path) -> list[CellRow]:
    """One row per cell, from whatever runs of the suite completed."""
    rows: dict[str, CellRow] = {}
    for job in jobs(suite, root):
        fits = sorted((p for p in job.group.glob("*-fit*") if p.is_dir()), key=lambda p: p.name)
        fit = newest_run(job.group, "fit")
        row = rows.get(job.cell.label)
        if row is None:
            monitor, mode = _monitor(fit) if fit is not None else (None, None)
            row = rows[job.cell.label] = CellRow(
                job.cell.label, suite.metric or monitor or "val/loss", suite.mode or mode or "min"
            )
        if run_status(fit) != "completed":
            row.missing.append(job.seed)
            continue
        metrics = {k: float(v) for k, v in _read_json(fit / "results.json").get("metrics", {}).items()}
        test = newest_run(job.group, "test")
        if run_status(test) == "completed":
            metrics.update({k: float(v) for k, v in _read_json(test / "results.json").get("metrics", {}).items()})
        row.seeds.append(SeedResult(job.seed, metrics, _costs(fits), fit))
    return list(rows.values())


def rank(rows: list[CellRow]) -> list[CellRow]:
    """Best first by the ranked metric's mean (cells with no result last)."""

    def key(row: CellRow) -> tuple[int, float]:
        if row.score is None:
            return (1, 0.0)
        return (0, -row.score if row.mode == "max" else row.score)

    return sorted(rows, key=key)


def paired_difference(row: CellRow, baseline: CellRow, metric: str) -> tuple[float, float | None, int] | None:
    """Mean of ``row - baseline`` over their common seeds, the half-width of its 95 % t interval
    (``None`` with one seed), and the number of seeds; ``None`` without a common seed."""
    mine = {s.seed: s.metrics[metric] for s in row.seeds if metric in s.metrics}
    theirs = {s.seed: s.metrics[metric] for s in baseline.seeds if metric in s.metrics}
    common = sorted(set(mine) & set(theirs))
    if not common:
        return None
    diffs = [mine[seed] - theirs[seed] for seed in common]
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, None, 1
    dof = len(diffs) - 1
    quantile = _T95[max(d for d in _T95 if d <= dof)]  # the nearest tabulated dof below: a wider interval
    return mean, quantile * statistics.stdev(diffs) / math.sqrt(len(diffs)), len(diffs)


def machines(rows: list[CellRow]) -> list[str]:
    """The machines the fit runs ran on, from their ``run.json`` (device and versions), each once:
    ``"Intel(R) Xeon(R) ... (cpu, 2 cores, 1 process), Python 3.11.7, torch 2.14.1, mmzoo 0.1.0"``."""
    seen: list[str] = []
    for row in rows:
        for result in row.seeds:
            facts = _read_json(result.fit_dir / "run.json")
            device = facts.get("device") if isinstance(facts.get("device"), dict) else {}
            versions = facts.get("versions") if isinstance(facts.get("versions"), dict) else {}
            if not device:
                continue
            details = [str(device.get("type", "?"))]
            if device.get("cpus"):
                details.append(f"{device['cpus']} cores")
            processes = device.get("processes", 1)
            details.append(f"{processes} process" + ("es" if processes != 1 else ""))
            text = f"{device.get('name', '?')} ({', '.join(details)})" + "".join(
                f", {label} {versions[key]}" for key, label in (("python", "Python"), ("torch", "torch"), ("mmzoo", "mmzoo"))
                if versions.get(key)
            )
            if text not in seen:
                seen.append(text)
    return seen
