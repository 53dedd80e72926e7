"""Put a suite's leaderboard and plot (written by `mmzoo bench`) into a documentation page.

    python benchmarks/bench_page.py runs/bench/fusions docs/fusions.md

The page needs the two marker comments of this tool (see benchmarks/_page.py); the section between
them is replaced by the leaderboard (its title dropped, the page has its own heading) and the
ranked-metric plot, copied to docs/figures/<suite>-metric.png. The total training time of the
suite's runs is added from their results.json files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from _page import write_section

TOOL = "benchmarks/bench_page.py"


def _hours(folder: Path) -> float:
    """Wall time of every run of the suite, summed (fit and test, all attempts), in hours."""
    seconds = 0.0
    for results in folder.glob("*/seed-*/*/results.json"):
        seconds += float(json.loads(results.read_text()).get("wall_seconds") or 0.0)
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite_dir", type=Path, help="runs/bench/<suite>, after mmzoo bench or mmzoo bench report")
    parser.add_argument("page", type=Path, help="the documentation page to update")
    args = parser.parse_args()
    board = (args.suite_dir / "leaderboard.md").read_text(encoding="utf-8").splitlines()
    figures = args.page.parent / "figures"
    figures.mkdir(exist_ok=True)
    plot = figures / f"{args.suite_dir.name}-metric.png"
    shutil.copyfile(args.suite_dir / "metric.png", plot)
    lines = [
        *board[2:],  # without its "# Leaderboard" title
        "",
        f"The runs took {_hours(args.suite_dir):.2f} h of training in all. Regenerate with"
        f" `mmzoo bench benchmarks/suites/{args.suite_dir.name}.yaml` and"
        f" `python {TOOL} {args.suite_dir} {args.page}`.",
        "",
        f"![{args.suite_dir.name}: the ranked metric per cell, mean and standard deviation over seeds]"
        f"({plot.relative_to(args.page.parent)})",
    ]
    write_section(args.page, TOOL, lines)
    print(f"wrote {args.page} and {plot}")


if __name__ == "__main__":
    main()
