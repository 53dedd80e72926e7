"""The ``mmzoo bench`` commands: run a suite (or check it with ``--dry-run``), and rebuild a report."""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path

from mmzoo.bench.report import write_report
from mmzoo.bench.runner import _state, jobs, run_suite
from mmzoo.bench.suite import Suite, load_suite
from mmzoo.errors import MmzooError

__all__ = ["bench", "bench_report", "DEFAULT_ROOT", "SUITE_COPY"]

DEFAULT_ROOT = Path("runs") / "bench"
#: The suite file as it ran, kept in the suite's folder so that ``bench report`` needs nothing else.
SUITE_COPY = "suite.yaml"


def check(suite: Suite, root: Path) -> list[str]:
    """Validate every cell's recipe with its overrides (no training); the grid as text lines."""
    from mmzoo.plugins import load_registry
    from mmzoo.recipe import load_recipe

    registry = load_registry()
    lines = [f"{suite.name}: {len(suite.cells)} cells x {len(suite.seeds)} seeds = {len(suite.cells) * len(suite.seeds)} runs"]
    failures: list[str] = []
    for job in jobs(suite, root):
        try:
            load_recipe(job.cell.recipe, job.overrides(suite), registry)
        except MmzooError as exc:
            failures.append(f"cell {job.cell.label} (seed {job.seed}): {exc.render()}")
            continue
        if job.seed == suite.seeds[0]:
            state = _state(job, suite.test)[0]
            lines.append(f"  {job.cell.label}: {shlex.join([str(job.cell.recipe), *job.cell.overrides])} [{state}]")
    if failures:
        raise MmzooError(f"suite {suite.source} has cells that do not validate:\n" + "\n".join(failures))
    return lines


def bench(path: str | Path, *, root: Path = DEFAULT_ROOT, dry_run: bool = False, parallel: int = 1) -> int:
    """``mmzoo bench SUITE``: validate every cell, run what is not done, write the leaderboard."""
    suite = load_suite(path)
    if parallel < 1:
        raise MmzooError(f"--parallel must be at least 1, got {parallel}")
    for line in check(suite, root):
        print(line, flush=True)
    if dry_run:
        return 0
    folder = root / suite.name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(suite.source, folder / SUITE_COPY)
    started = time.monotonic()
    outcomes = run_suite(suite, root, parallel=parallel)
    failed = [o for o in outcomes if o.code != 0]
    print(f"suite {suite.name}: {len(outcomes) - len(failed)} of {len(outcomes)} runs done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    _report(suite, root)
    if failed:
        print(f"{len(failed)} failed: see {folder / 'failures.json'}; run the suite again to retry them", flush=True)
        return 1
    return 0


def bench_report(directory: str | Path) -> int:
    """``mmzoo bench report DIR``: rebuild the leaderboard and plots of a suite's folder."""
    folder = Path(directory)
    copy = folder / SUITE_COPY
    if not copy.is_file():
        raise MmzooError(f"{folder} is not a suite's folder (no {SUITE_COPY})", hint="pass runs/bench/<suite>")
    suite = load_suite(copy, check_files=False)
    if suite.name != folder.name:
        suite.name = folder.name
    _report(suite, folder.parent)
    return 0


def _report(suite: Suite, root: Path) -> None:
    from mmzoo.bench.summary import log_summary
    from mmzoo.console import quiet_third_party

    rows, files = write_report(suite, root)
    for path in files:
        print(f"wrote {path}", flush=True)
    project = "mmzoo-bench"
    with quiet_third_party():  # W&B's own banner says nothing the next line does not
        logged = log_summary(suite.name, root / suite.name, project, files)
    if logged:
        print(f"W&B summary run: {logged}", flush=True)
