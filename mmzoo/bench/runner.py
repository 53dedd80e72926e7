"""Running a suite: every (cell, seed) is an ordinary ``mmzoo fit`` (and ``mmzoo test``) run.

Runs go to ``<root>/<suite>/<cell>/seed-<n>/<stamp>-<command>/``: ``run.root`` is the cell's folder
and ``run.name`` the seed, so nothing distinguishes a benchmark run from any other. Each run is a
``python -m mmzoo`` process of its own (one failing or crashing cell cannot take the suite down),
with its output in ``<root>/<suite>/logs/``.

The suite resumes from the file system alone: a (cell, seed) whose newest ``fit`` has a completed
``results.json`` (and, with ``test: true``, a completed ``test``) is skipped; one whose ``fit`` was
interrupted continues from its ``last.ckpt`` with ``--resume last``; the rest start afresh. Failures
are recorded in ``<root>/<suite>/failures.json`` and the suite goes on.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from mmzoo.bench.suite import Cell, Suite

__all__ = ["Job", "jobs", "run_suite", "newest_run", "run_status", "RESULTS_FILE"]

RESULTS_FILE = "results.json"
LAST = Path("checkpoints") / "last.ckpt"


@dataclass(frozen=True)
class Job:
    """One (cell, seed) of a suite."""

    cell: Cell
    seed: int
    group: Path  # <root>/<suite>/<cell>/seed-<n>: the run group of its runs

    @property
    def name(self) -> str:
        return f"{self.cell.label} seed {self.seed}"

    def overrides(self, suite: Suite) -> list[str]:
        return [
            *self.cell.overrides,
            f"seed={self.seed}",
            f"run.root={self.group.parent}",
            f"run.name={self.group.name}",
            *(["logger.wandb.group=" + suite.name] if _has_wandb_group() else []),
        ]


def _has_wandb_group() -> bool:
    """Whether this mmzoo's recipes take ``logger.wandb.group`` (W&B runs of a suite share one group)."""
    import dataclasses

    from mmzoo.recipe.schema import WandbConfig

    return "group" in {f.name for f in dataclasses.fields(WandbConfig)}


def jobs(suite: Suite, root: Path) -> list[Job]:
    """Every (cell, seed) of the suite, cell by cell."""
    base = root / suite.name
    return [Job(cell, seed, base / cell.folder / f"seed-{seed}") for cell in suite.cells for seed in suite.seeds]


def newest_run(group: Path, command: str) -> Path | None:
    """The newest ``<stamp>-<command>`` run directory in a run group."""
    runs = sorted((p for p in group.glob(f"*-{command}*") if p.is_dir()), key=lambda p: p.name)
    return runs[-1] if runs else None


def run_status(run_dir: Path | None) -> str:
    """``completed``, ``interrupted``, ``resumable`` (a checkpoint but no result), ``failed`` or ``missing``."""
    if run_dir is None:
        return "missing"
    results = run_dir / RESULTS_FILE
    if results.is_file():
        try:
            return str(json.loads(results.read_text()).get("status", "completed"))
        except (OSError, ValueError):
            return "failed"
    return "resumable" if (run_dir / LAST).exists() else "failed"


def _state(job: Job, test: bool) -> tuple[str, Path | None]:
    """What a job still needs: ``done``, ``test`` (fit done), ``resume`` (from this fit run) or ``fit``."""
    fit = newest_run(job.group, "fit")
    status = run_status(fit)
    if status == "completed":
        if not test or run_status(newest_run(job.group, "test")) == "completed":
            return "done", fit
        return "test", fit
    if status in ("interrupted", "resumable"):
        return "resume", fit
    return "fit", None


def _command(job: Job, suite: Suite, state: str, fit: Path | None) -> list[list[str]]:
    mmzoo = [sys.executable, "-m", "mmzoo"]
    quiet = ["trainer.enable_progress_bar=false"]
    if state == "fit":
        commands = [[*mmzoo, "fit", str(job.cell.recipe), *job.overrides(suite), *quiet]]
    elif state == "resume":
        commands = [[*mmzoo, "fit", str(fit), "--resume", "last", *quiet]]
    else:
        commands = []
    if suite.test:
        # After the fit: its newest run in the group is the one to evaluate (looked up when it runs).
        commands.append([*mmzoo, "test", "{fit}", *quiet])
    return commands


@dataclass
class Outcome:
    job: Job
    state: str  # what was done: done (skipped), fit, resume, test
    code: int
    seconds: float
    log: Path | None


def _run_job(job: Job, suite: Suite, logs: Path, env: dict[str, str]) -> Outcome:
    state, fit = _state(job, suite.test)
    if state == "done":
        return Outcome(job, "done", 0, 0.0, None)
    start = time.monotonic()
    log = logs / f"{job.cell.folder}-seed-{job.seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    code = 0
    with open(log, "a", encoding="utf-8") as out:
        for command in _command(job, suite, state, fit):
            if "{fit}" in command:
                newest = newest_run(job.group, "fit")
                if run_status(newest) != "completed":
                    break
                command = [str(newest) if part == "{fit}" else part for part in command]
            out.write(f"$ {shlex.join(command)}\n")
            out.flush()
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            if code != 0:
                break
    return Outcome(job, state, code, time.monotonic() - start, log)


def _record_failure(path: Path, outcome: Outcome, lock: threading.Lock) -> None:
    tail = outcome.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:] if outcome.log else []
    with lock:
        failures = json.loads(path.read_text()) if path.is_file() else []
        failures.append(
            {
                "cell": outcome.job.cell.label,
                "seed": outcome.job.seed,
                "exit_code": outcome.code,
                "log": str(outcome.log),
                "last_lines": tail,
                "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        path.write_text(json.dumps(failures, indent=2) + "\n", encoding="utf-8")


def _environments(parallel: int) -> Iterator[dict[str, str]]:
    """The environment of each worker slot: one GPU each when there are enough."""
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # no torch CUDA runtime: CPU runs
        gpus = 0
    for slot in range(parallel):
        # Not the W&B service this process may have started: each run starts its own.
        env = {name: value for name, value in os.environ.items() if name != "WANDB_SERVICE"}
        if gpus and parallel > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
        yield env


def run_suite(
    suite: Suite, root: Path, *, parallel: int = 1, report: Callable[[str], None] = print
) -> list[Outcome]:
    """Run every job not done yet, ``parallel`` at a time; report one line per job and a running total."""
    todo = jobs(suite, root)
    base = root / suite.name
    logs, failures = base / "logs", base / "failures.json"
    lock = threading.Lock()
    slots = list(_environments(parallel))
    free = list(range(parallel))
    outcomes: list[Outcome] = []
    started = time.monotonic()
    worked = 0

    def work(job: Job) -> Outcome:
        with lock:
            slot = free.pop()
        try:
            return _run_job(job, suite, logs, slots[slot])
        finally:
            with lock:
                free.append(slot)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(work, job) for job in todo]
        for done, future in enumerate(as_completed(futures), start=1):
            outcome = future.result()
            outcomes.append(outcome)
            if outcome.state != "done":
                worked += 1
            if outcome.code != 0:
                _record_failure(failures, outcome, lock)
            elapsed = time.monotonic() - started
            remaining = len(todo) - done
            # elapsed / worked is the wall time per run with `parallel` of them overlapping.
            eta = f", about {_duration(elapsed / worked * remaining)} left" if worked and remaining else ""
            report(f"[{done}/{len(todo)}] {outcome.job.name}: {_describe(outcome)}{eta}")
    return outcomes


def _describe(outcome: Outcome) -> str:
    if outcome.state == "done":
        return "done earlier, skipped"
    verb = {"fit": "trained", "resume": "resumed", "test": "tested"}[outcome.state]
    if outcome.code == 75:
        return f"interrupted after {_duration(outcome.seconds)} (run the suite again to resume)"
    if outcome.code != 0:
        return f"FAILED (exit {outcome.code}) after {_duration(outcome.seconds)}; see {outcome.log}"
    return f"{verb} in {_duration(outcome.seconds)}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
