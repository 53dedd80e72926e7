"""The leaderboard files and plots of a suite: ``leaderboard.{md,csv,json}`` and PNG figures.

Everything here reads run directories only (:mod:`mmzoo.bench.aggregate`), so ``mmzoo bench report``
rebuilds the same files later, with W&B offline or not installed.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from mmzoo.bench.aggregate import COSTS, CellRow, collect, machines, paired_difference, rank
from mmzoo.bench.suite import Suite

__all__ = ["write_report", "LEADERBOARD", "PLOTS"]

LEADERBOARD = "leaderboard"
PLOTS = {"metric": "metric.png", "throughput": "metric-vs-throughput.png", "parameters": "metric-vs-parameters.png"}


def _fmt(mean: float | None, std: float | None, digits: int = 4) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _cost(value: float | None, label: str) -> str:
    if value is None:
        return "n/a"
    if label in ("params", "trainable"):
        return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value:,.0f}"
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def _metric_names(rows: list[CellRow]) -> list[str]:
    names = sorted({name for row in rows for seed in row.seeds for name in seed.metrics})
    ranked = rows[0].metric if rows else None
    return [ranked, *[n for n in names if n != ranked]] if ranked in names else names


def _records(rows: list[CellRow], baseline: CellRow | None) -> list[dict[str, Any]]:
    records = []
    for place, row in enumerate(rows, start=1):
        record: dict[str, Any] = {
            "rank": place if row.score is not None else None,
            "cell": row.label,
            "seeds": [s.seed for s in row.seeds],
            "missing_seeds": row.missing,
            "metrics": {},
            "costs": {},
        }
        for name in _metric_names(rows):
            mean, std = row.mean_std(row.values(name))
            entry: dict[str, Any] = {"mean": mean, "std": std, "values": row.values(name)}
            if baseline is not None and row is not baseline:
                compared = paired_difference(row, baseline, name)
                if compared is not None:
                    diff, half, n = compared
                    entry["vs_baseline"] = {
                        "difference": diff,
                        "ci95": None if half is None else [diff - half, diff + half],
                        "seeds": n,
                        "significant": half is not None and abs(diff) > half,
                    }
            record["metrics"][name] = entry
        for label in COSTS:
            mean, std = row.mean_std(row.cost_values(label))
            record["costs"][label] = {"mean": mean, "std": std}
        records.append(record)
    return records


def _markdown(suite: Suite, rows: list[CellRow], records: list[dict[str, Any]], where: str) -> list[str]:
    metric = rows[0].metric if rows else "n/a"
    others = [n for n in _metric_names(rows) if n != metric]
    baseline = suite.baseline
    lines = [
        f"# Leaderboard: {suite.name}",
        "",
        f"{where}. Made by `mmzoo bench` on {time.strftime('%Y-%m-%d')} from the run directories.",
        f"Ranked by `{metric}` ({rows[0].mode if rows else 'n/a'}), mean ± standard deviation over seeds"
        f" {', '.join(map(str, suite.seeds))}."
        + (f" Δ: paired difference to `{baseline}` with its 95 % t interval; * where it excludes 0." if baseline else ""),
        "",
    ]
    header = ["rank", "cell", f"`{metric}`", *([f"Δ vs `{baseline}`"] if baseline else []), *list(COSTS), "seeds"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, record in zip(rows, records, strict=True):
        entry = record["metrics"].get(metric, {})
        cells = [str(record["rank"] or "-"), f"`{row.label}`", _fmt(entry.get("mean"), entry.get("std"))]
        if baseline:
            compared = entry.get("vs_baseline")
            if row.label.split("/")[-1] == baseline or compared is None:
                cells.append("baseline" if row.label.split("/")[-1] == baseline else "n/a")
            else:
                interval = compared["ci95"]
                text = f"{compared['difference']:+.4f}"
                if interval:
                    text += f" [{interval[0]:+.4f}, {interval[1]:+.4f}]" + (" *" if compared["significant"] else "")
                cells.append(text)
        cells += [_cost(record["costs"][label]["mean"], label) for label in COSTS]
        cells.append(f"{len(row.seeds)}" + (f" (missing {', '.join(map(str, row.missing))})" if row.missing else ""))
        lines.append("| " + " | ".join(cells) + " |")
    if others:
        lines += ["", "Other final metrics (mean ± std):", ""]

        def value(record: dict[str, Any], name: str) -> str:
            return _fmt(record["metrics"][name]["mean"], record["metrics"][name]["std"])

        if len(others) <= len(rows):  # one row per cell
            lines += ["| cell | " + " | ".join(f"`{n}`" for n in others) + " |", "|" + "---|" * (len(others) + 1)]
            for row, record in zip(rows, records, strict=True):
                lines.append(f"| `{row.label}` | " + " | ".join(value(record, n) for n in others) + " |")
        else:  # more metrics than cells: one row per metric, so the table stays narrow
            lines += ["| metric | " + " | ".join(f"`{row.label}`" for row in rows) + " |", "|" + "---|" * (len(rows) + 1)]
            for name in others:
                lines.append(f"| `{name}` | " + " | ".join(value(record, name) for record in records) + " |")
    lines += ["", "Costs: " + "; ".join(f"*{label}*: {text}" for label, text in COSTS.items()) + "."]
    return lines


def _plots(rows: list[CellRow], folder: Path, baseline: str | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [row for row in rows if row.score is not None]
    if not scored:
        return []
    metric = scored[0].metric
    written = []
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(scored) + 2), 4.0))
    means = [row.score for row in scored]
    stds = [row.mean_std(row.values(metric))[1] or 0.0 for row in scored]
    is_baseline = [row.label.split("/")[-1] == baseline for row in scored]
    colours = ["#dd8452" if marked else "#4c72b0" for marked in is_baseline]
    axes.bar(range(len(scored)), means, yerr=stds, capsize=4, color=colours)
    axes.set_xticks(range(len(scored)), [row.label + (" (baseline)" if marked else "") for row, marked in zip(scored, is_baseline, strict=True)], rotation=45, ha="right")
    axes.set_ylabel(f"{metric}\n(mean ± std over seeds)")
    axes.set_xlabel("cell")
    axes.set_title(f"{metric} by cell")
    figure.tight_layout()
    figure.savefig(folder / PLOTS["metric"], dpi=120)
    plt.close(figure)
    written.append(folder / PLOTS["metric"])
    for key, cost, label in (
        ("throughput", "samples/s", "training throughput (samples/s, median over steps)"),
        ("parameters", "params", "parameters (total)"),
    ):
        points = [(row, row.mean_std(row.cost_values(cost))[0]) for row in scored]
        points = [(row, value) for row, value in points if value is not None]
        if not points:
            continue
        figure, axes = plt.subplots(figsize=(6.5, 4.5))
        for row, value in points:
            std = row.mean_std(row.values(metric))[1] or 0.0
            axes.errorbar(value, row.score, yerr=std, fmt="o", capsize=3)
            axes.annotate(row.label, (value, row.score), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if key == "parameters":
            axes.set_xscale("log")
        axes.set_xlabel(label)
        axes.set_ylabel(f"{metric}\n(mean ± std over seeds)")
        axes.set_title(f"{metric} against {label.split(' (')[0]}")
        figure.tight_layout()
        figure.savefig(folder / PLOTS[key], dpi=120)
        plt.close(figure)
        written.append(folder / PLOTS[key])
    return written


def write_report(suite: Suite, root: Path) -> tuple[list[CellRow], list[Path]]:
    """Write ``<root>/<suite>/leaderboard.{md,csv,json}`` and the plots; returns the rows and files.

    The page names the machines the runs ran on, as their ``run.json`` files record them (not the
    machine that writes the report).
    """
    folder = root / suite.name
    folder.mkdir(parents=True, exist_ok=True)
    rows = rank(collect(suite, root))
    ran_on = machines(rows)
    where = ("Machine: " + "; ".join(ran_on)) if ran_on else "Machine: not recorded (the runs have no run.json)"
    baseline = next((row for row in rows if row.label.split("/")[-1] == suite.baseline), None)
    records = _records(rows, baseline)
    files = [folder / f"{LEADERBOARD}.{ext}" for ext in ("md", "csv", "json")]
    files[0].write_text("\n".join(_markdown(suite, rows, records, where)) + "\n", encoding="utf-8")
    with open(files[1], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        names = _metric_names(rows)
        writer.writerow(["rank", "cell", "seeds", *[f"{n} {s}" for n in names for s in ("mean", "std")], *[f"{c} mean" for c in COSTS]])
        for record in records:
            writer.writerow(
                [record["rank"], record["cell"], len(record["seeds"])]
                + [record["metrics"][n][s] for n in names for s in ("mean", "std")]
                + [record["costs"][c]["mean"] for c in COSTS]
            )
    files[2].write_text(
        json.dumps({"suite": suite.name, "where": where, "baseline": suite.baseline, "cells": records}, indent=2) + "\n",
        encoding="utf-8",
    )
    return rows, files + _plots(rows, folder, suite.baseline)
