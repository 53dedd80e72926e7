"""Measure the build check on every shipped recipe: building the model, and the example batch
forward and backward (what `fit` adds before reading data; what `mmzoo recipe check --build` runs).

Writes ``docs/benchmarks/build_check.md``. Run from the repository root::

    .venv/bin/python benchmarks/build_check.py

Each recipe is measured in a fresh process (`mmzoo recipe check RECIPE --build`), so the first call's
one-time costs (autograd, kernels) are counted as a user pays them; the figures are that command's
own report of its build and check times, and the whole command's wall time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
REPORT = re.compile(r"built ([\d,]+) parameters in ([\d.]+) s, example batch forward and backward in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "build_check.md")
    args = parser.parse_args()
    rows = []
    for recipe in sorted((REPO / "recipes").rglob("*.yaml")):
        name = str(recipe.relative_to(REPO))
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "mmzoo", "recipe", "check", name, "--build"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        found = REPORT.search(result.stdout)
        if result.returncode != 0 or found is None:
            raise SystemExit(f"{name} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        rows.append((name, found.group(1), float(found.group(2)), float(found.group(3)), wall))
        print(f"{name}: build {rows[-1][2]:.2f} s, check {rows[-1][3]:.2f} s, command {wall:.1f} s", flush=True)
    slowest = max(row[3] for row in rows)
    lines = [
        "# The build check",
        "",
        f"Machine: {describe_cpu()}. Made by `benchmarks/build_check.py` on {time.strftime('%Y-%m-%d')}.",
        "",
        "`mmzoo recipe check RECIPE --build` on every shipped recipe, each in a fresh process: the time to build",
        "the datamodule and the model, the time of the check itself (one example batch of two rows through",
        "encoders, fusion, heads, objectives and weighting, forward and backward, on the CPU; the same check",
        "`fit`, `validate`, `test` and `predict` run before reading data), and the whole command (Python",
        "start-up, imports, plugin loading and validation included). See [the build check](../cli.md#the-build-check).",
        "",
        "| recipe | parameters | build s | check s | command s |",
        "|---|---|---|---|---|",
        *(f"| `{name}` | {params} | {build:.2f} | {check:.2f} | {wall:.1f} |" for name, params, build, check, wall in rows),
        "",
        f"The slowest check took {slowest:.2f} s.",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
