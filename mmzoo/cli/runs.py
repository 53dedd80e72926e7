"""``mmzoo runs``: the run directories under ``run.root``, newest first, one line each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError
from mmzoo.lifecycle.identity import run_fingerprint

__all__ = ["list_runs", "describe_run"]

_COMMANDS = ("fit", "validate", "test", "predict")


def describe_run(run_dir: Path) -> dict[str, Any]:
    """Command, status, monitored metric and its value, and the model fingerprint of one run directory."""
    stamp, _, rest = run_dir.name.partition("-")
    command = next((c for c in _COMMANDS if rest.startswith(c) or rest.endswith(c) or f"-{c}" in rest), "?")
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = None
    status = "running or killed" if results is None else str(results.get("status", "completed"))
    if results is None and (run_dir / "checkpoints" / "last.ckpt").exists():
        status = "killed (resumable)"
    identity = run_fingerprint(run_dir)
    monitor = None
    if identity is not None:
        checkpoint = identity[1].get("checkpoint") or {}
        monitor = checkpoint.get("monitor") if isinstance(checkpoint, dict) else None
    metrics = (results or {}).get("metrics") or {}
    value = metrics.get(monitor) if monitor else None
    if value is None and command == "test":
        tested = sorted(k for k in metrics if k.startswith("test/"))
        monitor, value = (tested[0], metrics[tested[0]]) if tested else (monitor, None)
    return {
        "run": run_dir,
        "command": command,
        "status": status,
        "date": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {rest[:2]}:{rest[2:4]}" if len(stamp) == 8 and rest[:4].isdigit() else stamp,
        "metric": monitor,
        "value": value,
        "fingerprint": identity[0] if identity else None,
    }


def list_runs(name: str | None = None, root: str | Path = "runs") -> int:
    """Print the runs of every run group under ``root`` (or of the group ``name``)."""
    base = Path(root)
    groups = [base / name] if name else sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if name and not (base / name).is_dir():
        known = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        raise MmzooError(f"no run group {base / name}", hint=f"groups under {base}: {', '.join(known) or 'none'}")
    rows = []
    for group in groups:
        for run_dir in sorted((p for p in group.iterdir() if p.is_dir() and (p / "recipe.yaml").is_file()), reverse=True):
            rows.append(describe_run(run_dir))
    if not rows:
        print(f"no runs under {base if not name else base / name}")
        return 0
    header = ("run", "command", "status", "metric", "model")
    lines = [header]
    for row in rows:
        metric = f"{row['metric']} {row['value']:.4f}" if isinstance(row["value"], int | float) else (row["metric"] or "")
        lines.append((str(row["run"]), row["command"], row["status"], metric, row["fingerprint"] or "?"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0
