"""The suite's summary as one W&B run in the suite's group: the leaderboard as a ``wandb.Table`` and
the plots as images. Offline unless ``WANDB_MODE`` says otherwise; skipped when W&B is disabled or
not installed (the files under the suite's folder are the record either way)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["log_summary"]


def log_summary(suite_name: str, folder: Path, project: str, files: list[Path]) -> str | None:
    """Log the leaderboard and plots; returns where the run went (``None`` when W&B is off)."""
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode == "disabled":
        return None
    try:
        import wandb
    except ImportError:
        return None
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", project),
        group=suite_name,
        job_type="bench",
        name=f"{suite_name}-leaderboard",
        dir=str(folder),
        mode=mode,
        reinit="finish_previous",
    )
    table_file = next((f for f in files if f.name.endswith(".csv")), None)
    if table_file is not None:
        with open(table_file, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if rows:
            run.log({"leaderboard": wandb.Table(columns=rows[0], data=rows[1:])})
    for image in (f for f in files if f.suffix == ".png"):
        run.log({image.stem: wandb.Image(str(image))})
    location = str(run.dir)
    run.finish()
    return location
