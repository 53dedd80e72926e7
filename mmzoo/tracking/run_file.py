"""``run.json``: the facts of a run, in its run directory, whether or not W&B is on.

It holds what the W&B config holds besides the recipe (``recipe.yaml`` is next to it): the
command, its overrides, versions, device, parameter counts, git commit and lineage (see
:mod:`mmzoo.tracking.config`), plus the W&B run (``wandb``: mode, id, project, name, group...) and
the artifacts it uploaded (``artifacts``). Later runs read it to find the W&B run and checkpoint
artifact of the run whose checkpoint they evaluate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RUN_FILE", "read_run_file", "update_run_file"]

RUN_FILE = "run.json"


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``; empty when it has none (a run made before mmzoo wrote one) or it is unreadable."""
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_run_file(run_dir: Path, values: Mapping[str, Any]) -> None:
    """Merge ``values`` into ``run.json`` (top-level keys replace the old ones), written atomically."""
    path = Path(run_dir) / RUN_FILE
    data = {**read_run_file(run_dir), **values}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)
