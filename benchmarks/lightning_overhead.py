"""Per-step cost of ``mmzoo fit`` (Lightning) against a plain PyTorch loop on the same model and data.

Writes ``docs/benchmarks/lightning_overhead.md``::

    .venv/bin/python benchmarks/lightning_overhead.py [--recipe recipes/quickstart.yaml] [--rounds 3]

Both sides are built from the same recipe, the way ``mmzoo fit`` builds them (``load_recipe``,
``seed_everything``, ``build_datamodule``, ``build_module``, ``datamodule.setup("fit")``):

- **mmzoo fit**: ``build_trainer(recipe, run_dir, callbacks=[timer])`` and ``trainer.fit``, i.e.
  ``mmzoo.run._run`` with one extra callback (``run_recipe`` takes no callbacks). W&B is disabled,
  the CSV logger, checkpointing and the progress bar stay as the recipe has them.
- **plain loop**: the same module class, the same ``train_dataloader()``, the optimizer and
  scheduler from ``module.configure_optimizers()``; per step: move the batch, forward, the
  module's own objective and loss code, ``zero_grad(set_to_none=True)``, ``backward``, gradient
  clipping when the recipe asks for it (as Lightning does), ``optimizer.step``, scheduler step.

Two spans are timed per step. *Step* is the time from one ``on_train_batch_start`` to the next
(everything the user waits for per step: data, transfer, the step and Lightning's bookkeeping,
progress bar and logging); the plain loop is timed from the same point of one iteration to the
next. *Inside* is ``on_train_batch_start`` to ``on_train_batch_end`` (forward to optimizer step).
Each span is also timed by the CPU time of the whole process (``step cpu``, ``inside cpu``): on a
machine shared with other jobs the wall clock also counts the time the process waited for a core,
the CPU time does not (run with ``--threads 1`` for it to mean "work done": with more threads, idle
workers spinning between parallel regions count too). Warm-up steps and steps that cross an epoch
end (validation, checkpoints) are left out; the sides alternate for ``--rounds`` rounds to cancel
machine drift.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]

#: A larger model and batch on the quickstart recipe, to show that the overhead is a fixed cost per step.
LARGE = [
    "data.batch_size=128",
    "model.encoders.audio.dim=256",
    "model.encoders.text.dim=256",
    "model.fusion.dim=256",
    "model.fusion.hidden_dim=512",
]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Lightning's advice (workers, log directories) is noise here; the benchmark keeps the defaults."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: The spans timed per step (see the module docstring); ``cpu`` ones use the process's CPU time.
SPANS = ("step", "inside", "step cpu", "inside cpu")


def clocks() -> tuple[float, float]:
    """Wall clock and CPU time of the whole process (all threads), in seconds."""
    return time.perf_counter(), time.process_time()


class Samples:
    """Span lengths of one run, in ms: ``step`` (start to next start) and ``inside`` (start to end),
    each by the wall clock and by the process's CPU time."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.spans: dict[str, list[float]] = {span: [] for span in SPANS}
        self._index = 0
        self._start: tuple[float, float] | None = None
        self._previous: tuple[int, tuple[float, float]] | None = None  # (epoch, clocks) of the last start

    @property
    def step(self) -> list[float]:
        return self.spans["step"]

    @property
    def inside(self) -> list[float]:
        return self.spans["inside"]

    def start(self, epoch: int, now: tuple[float, float]) -> None:
        if self._previous is not None and self._previous[0] == epoch and self._index > self.warmup:
            self.spans["step"].append((now[0] - self._previous[1][0]) * 1000)
            self.spans["step cpu"].append((now[1] - self._previous[1][1]) * 1000)
        self._previous = (epoch, now)
        self._start = now

    def end(self, now: tuple[float, float]) -> None:
        if self._start is not None and self._index >= self.warmup:
            self.spans["inside"].append((now[0] - self._start[0]) * 1000)
            self.spans["inside cpu"].append((now[1] - self._start[1]) * 1000)
        self._index += 1


def build(recipe_path: Path, overrides: list[str]) -> tuple[Any, Any, Any, Any]:
    """Recipe, registry, datamodule and module, exactly as ``mmzoo.run._run`` makes them for ``fit``."""
    import lightning.pytorch as pl

    from mmzoo.build import build_datamodule, build_module
    from mmzoo.plugins import load_registry
    from mmzoo.recipe import load_recipe

    registry = load_registry(warn=False)
    recipe = load_recipe(recipe_path, overrides, registry)
    if recipe.seed is not None:
        pl.seed_everything(recipe.seed, workers=True, verbose=False)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    datamodule.setup("fit")
    return recipe, registry, datamodule, module


#: Variants of the Lightning side for ``--breakdown``: label -> (extra overrides, keep the module's
#: logging, progress bar).
VARIANTS: dict[str, tuple[list[str], bool, str]] = {
    "mmzoo fit": ([], True, "default"),
    "TQDM progress bar": ([], True, "tqdm"),
    "no progress bar": (["trainer.enable_progress_bar=false"], True, "default"),
    "no progress bar, no logging": (["trainer.enable_progress_bar=false"], False, "default"),
    "no progress bar, no logging, no CSV logger": (
        ["trainer.enable_progress_bar=false", "logger.csv=false"],
        False,
        "default",
    ),
}


def run_lightning(
    recipe_path: Path,
    overrides: list[str],
    warmup: int,
    root: Path,
    *,
    log: bool = True,
    progress: str = "default",
    callbacks: list[Any] | None = None,
) -> Samples:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import TQDMProgressBar

    from mmzoo.build import build_trainer
    from mmzoo.run_dirs import create_run_dir

    samples = Samples(warmup)

    class StepTimer(pl.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            synchronize(module.device)
            samples.start(trainer.current_epoch, clocks())

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            synchronize(module.device)
            samples.end(clocks())

    with quiet():
        recipe, _, datamodule, module = build(recipe_path, [*overrides, f"run.root={root}"])
        run_dir = create_run_dir(recipe, "fit")
        datamodule.attach_run_dir(run_dir)  # as mmzoo.run._run does
        if not log:  # the module's training_step still runs; only its logging does nothing
            module.log = lambda *args, **kwargs: None
            module.log_dict = lambda *args, **kwargs: None
            module._log_training_step = lambda *args, **kwargs: None
        callbacks = [*(callbacks or []), StepTimer()]
        if progress == "tqdm":
            callbacks.append(TQDMProgressBar())
        trainer = build_trainer(recipe, run_dir, callbacks=callbacks, fit=True)
        trainer.fit(module, datamodule=datamodule)
    return samples


def run_plain(recipe_path: Path, overrides: list[str], warmup: int, steps: int, device: torch.device) -> Samples:
    with quiet():
        recipe, _, datamodule, module = build(recipe_path, overrides)
    module = module.to(device).train()
    if hasattr(module, "configure_model"):  # Lightning calls it before training (scaling options)
        module.configure_model()
    # configure_optimizers reads the run length from the trainer, and only that; give it the same number.
    module.trainer = types.SimpleNamespace(estimated_stepping_batches=steps)
    configured = module.configure_optimizers()
    module.total_training_steps()  # read now, while the stand-in trainer is there
    module.trainer = None
    if isinstance(configured, dict):
        optimizer = configured["optimizer"]
        schedule = configured["lr_scheduler"]
        scheduler = schedule["scheduler"] if schedule.get("interval") == "step" else None
    else:
        optimizer, scheduler = configured, None
    clip = recipe.trainer.get("gradient_clip_val")
    parameters = [p for group in optimizer.param_groups for p in group["params"]]

    samples = Samples(warmup)
    done, epoch = 0, 0
    while done < steps:
        for batch in datamodule.train_dataloader():
            if done == steps:
                break
            batch = batch.to(device, non_blocking=True)  # mmzoo's Batch moves its tensors only
            synchronize(device)
            samples.start(epoch, clocks())
            outputs, _, _ = module(batch)
            seen = module.objective_outputs(outputs, batch)
            total, _ = module.compute_losses(seen, batch)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(parameters, clip)
            optimizer.step()
            synchronize(device)
            samples.end(clocks())
            if scheduler is not None:
                scheduler.step()
            done += 1
        epoch += 1
    return samples


def summary(values: list[float]) -> tuple[float, float, float]:
    """Median, 10th and 90th percentile."""
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[-1]


def compare(
    recipe: Path,
    overrides: list[str],
    warmup: int,
    steps: int,
    rounds: int,
    device: torch.device,
    root: Path,
    variants: list[str],
) -> dict[str, Any]:
    """Alternate the plain loop and the Lightning variants for ``rounds`` rounds (the order flips every round)."""
    common = [
        *overrides,
        f"trainer.max_steps={warmup + steps}",
        "logger.wandb.mode=disabled",
        f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
    ]
    sides = ["plain", *variants]
    pooled = {side: Samples(0) for side in sides}
    per_round: dict[str, dict[str, list[float]]] = {span: {side: [] for side in sides} for span in SPANS}
    loads: list[float] = []
    for index in range(rounds):
        for side in sides if index % 2 else sides[::-1]:
            if side == "plain":
                got = run_plain(recipe, common, warmup, warmup + steps, device)
            else:
                extra, log, progress = VARIANTS[side]
                got = run_lightning(recipe, [*common, *extra], warmup, root, log=log, progress=progress)
            for span in SPANS:
                pooled[side].spans[span] += got.spans[span]
                per_round[span][side].append(statistics.median(got.spans[span]))
            loads.append(os.getloadavg()[0])
            print(
                f"  round {index + 1} {side}: "
                + ", ".join(f"{span} {statistics.median(got.spans[span]):.2f} ms" for span in SPANS)
                + f" ({len(got.step)} steps)",
                flush=True,
            )
    return {"pooled": pooled, "per_round": per_round, "loads": loads}


def paired(result: dict[str, Any], side: str, span: str = "step") -> tuple[float, float]:
    """Median over rounds of (side - plain) in ms and of side / plain: each round's two runs ran next to each other."""
    rounds = result["per_round"][span]
    pairs = list(zip(rounds[side], rounds["plain"], strict=True))
    return statistics.median(a - b for a, b in pairs), statistics.median(a / b for a, b in pairs)


def table(results: dict[str, dict[str, Any]], side: str = "mmzoo fit") -> list[str]:
    lines = [
        f"| setting | span | plain loop median (p10–p90) ms | {side} median (p10–p90) ms | overhead ms | ratio"
        " | ratio, median over rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        pooled = result["pooled"]
        for span in SPANS:
            plain = summary(pooled["plain"].spans[span])
            light = summary(pooled[side].spans[span])
            lines.append(
                f"| {name} | {span} | {plain[0]:.2f} ({plain[1]:.2f}–{plain[2]:.2f}) |"
                f" {light[0]:.2f} ({light[1]:.2f}–{light[2]:.2f}) | {light[0] - plain[0]:+.2f} |"
                f" {light[0] / plain[0]:.3f} | {paired(result, side, span)[1]:.3f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes" / "quickstart.yaml")
    parser.add_argument("--steps", type=int, default=50, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out at the start of each run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each side, interleaved")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-large", action="store_true", help="skip the larger model and batch (only with the quickstart recipe)"
    )
    parser.add_argument(
        "--extra", action="append", default=[], metavar="KEY=VALUE", help="an override for both sides, repeatable"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time Lightning variants (progress bar, logging, CSV logger)"
    )
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "lightning_overhead.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    recipe = args.recipe.resolve()

    # One epoch long enough for every step of a run, so that no validation falls between them.
    settings: dict[str, list[str]] = {"recipe as shipped": list(args.extra)}
    quickstart = recipe == (REPO / "recipes" / "quickstart.yaml").resolve()
    if quickstart and not args.no_large:
        settings["larger model, batch 128"] = [*LARGE, *args.extra]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mmzoo-overhead-") as root:
        for name, overrides in settings.items():
            if quickstart:
                batch = 128 if "data.batch_size=128" in overrides else 32
                overrides = [f"data.train_size={batch * (args.warmup + args.steps + 1)}", *overrides]
            print(f"{name}: {' '.join(overrides) or '(no overrides)'}", flush=True)
            variants = list(VARIANTS) if args.breakdown and name == "recipe as shipped" else ["mmzoo fit"]
            results[name] = compare(
                recipe, overrides, args.warmup, args.steps, args.rounds, device, Path(root), variants
            )
            results[name]["overrides"] = overrides

    shipped = results["recipe as shipped"]
    pooled_ratio = statistics.median(shipped["pooled"]["mmzoo fit"].step) / statistics.median(
        shipped["pooled"]["plain"].step
    )
    ratio = paired(shipped, "mmzoo fit")[1]
    cpu_ratio = paired(shipped, "mmzoo fit", "step cpu")[1]
    verdict = "meets" if ratio <= 1.05 else "misses"
    loads = [load for result in results.values() for load in result["loads"]]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else describe_cpu()
    command = " ".join(["benchmarks/lightning_overhead.py", *(argv if argv is not None else sys.argv[1:])])
    rel = recipe.relative_to(REPO) if recipe.is_relative_to(REPO) else recipe
    lines = [
        "# Benchmark: Lightning overhead of `mmzoo fit`",
        "",
        "Made by `benchmarks/lightning_overhead.py` (re-run it to refresh this page).",
        f"Machine: {where}. Date: {time.strftime('%Y-%m-%d')}.",
        f"Command: `.venv/bin/python {command.strip()}`.",
        "",
        f"Recipe `{rel}`, {args.rounds} rounds of each side, alternated, {args.warmup} warm-up steps left out",
        f"and {args.steps} steps measured per run; both sides built the way `mmzoo fit` builds them (same",
        "seed, same data loader, same optimizer and scheduler from `configure_optimizers`, same gradient",
        "clipping). mmzoo fit runs `build_trainer` + `trainer.fit` with W&B disabled; CSV logging,",
        "checkpointing and the progress bar are as the recipe has them.",
        "",
        "*step*: from one step's start to the next one's (data, transfer, forward, backward, optimizer,",
        "scheduler and, for Lightning, its logging and progress bar): what a user waits for per step.",
        "*inside*: `on_train_batch_start` to `on_train_batch_end` (forward to optimizer step); the",
        "plain loop is timed over the same span. *cpu*: the same spans in CPU time of the whole process",
        "(all threads), which does not count time spent waiting for a core while other jobs run.",
        "*ratio*: mmzoo fit median / plain median over all",
        "measured steps; *ratio, median over rounds*: the median of each round's mmzoo fit / plain",
        "medians (the two runs of a round ran one after the other, so load from other processes on the",
        "machine affects both alike; this is the figure the verdict uses).",
        "",
        *table(results),
        "",
        "Median step time of each round (ms), round by round:",
        "",
    ]
    for name, result in results.items():
        rounds = result["per_round"]["step"]
        ratios = [light / plain for light, plain in zip(rounds["mmzoo fit"], rounds["plain"], strict=True)]
        lines.append(
            f"- {name}: plain {', '.join(f'{v:.2f}' for v in rounds['plain'])};"
            f" mmzoo fit {', '.join(f'{v:.2f}' for v in rounds['mmzoo fit'])};"
            f" ratio per round {', '.join(f'{v:.3f}' for v in ratios)} (median {statistics.median(ratios):.3f})"
        )
    if args.breakdown:
        shipped_rounds = results["recipe as shipped"]
        plain_step = statistics.median(shipped_rounds["per_round"]["step"]["plain"])
        plain_inside = statistics.median(shipped_rounds["per_round"]["step cpu"]["plain"])
        lines += [
            "",
            "## Where the overhead goes",
            "",
            "The recipe as shipped, with parts of the Lightning side switched off, timed in the same",
            "alternating rounds as above (`no logging`: the module's `log`, `log_dict` and its own",
            "per-step logging to the loggers do nothing;",
            "the progress bar variants pass `trainer.enable_progress_bar=false` or a `TQDMProgressBar`).",
            "",
            "Each figure is the median over rounds of that round's median (overheads: the variant's median",
            "minus the plain loop's median of the same round), by the wall clock and in CPU time.",
            "",
            "| Lightning side | step ms | step overhead vs plain | step CPU ms | step CPU overhead vs plain |",
            "|---|---|---|---|---|",
            f"| plain loop | {plain_step:.2f} | | {plain_inside:.2f} | |",
        ]
        for variant in VARIANTS:
            step = statistics.median(shipped_rounds["per_round"]["step"][variant])
            inside = statistics.median(shipped_rounds["per_round"]["step cpu"][variant])
            step_ms, step_ratio = paired(shipped_rounds, variant, "step")
            inside_ms, inside_ratio = paired(shipped_rounds, variant, "step cpu")
            lines.append(
                f"| {variant} | {step:.2f} | {step_ms:+.2f} ms ({100 * (step_ratio - 1):+.1f} %) |"
                f" {inside:.2f} | {inside_ms:+.2f} ms ({100 * (inside_ratio - 1):+.1f} %) |"
            )
        # Differences between neighbouring variants: what each part switched off costs per step.
        cpu = {variant: paired(shipped_rounds, variant, "step cpu")[0] for variant in VARIANTS}
        order = list(VARIANTS)
        lines += [
            "",
            "Per step in CPU time, by difference between neighbouring rows: Rich progress bar (mmzoo's",
            f"throttled one) {cpu[order[0]] - cpu[order[2]]:+.2f} ms"
            f" (TQDM instead: {cpu[order[1]] - cpu[order[2]]:+.2f} ms);"
            f" the module's logging {cpu[order[2]] - cpu[order[3]]:+.2f} ms; the CSV logger"
            f" {cpu[order[3]] - cpu[order[4]]:+.2f} ms; what is left of Lightning's loop {cpu[order[4]]:+.2f} ms.",
        ]
    lines += [
        "",
        "Overrides of each setting (both sides; `trainer.max_steps`, `logger.wandb.mode=disabled` and",
        "`run.root=<temporary folder>` are added too; `data.train_size` makes one epoch hold every step):",
        "",
        *(f"- {name}: `{' '.join(result['overrides'])}`" for name, result in results.items()),
        "",
        "## Verdict",
        "",
        "Target: median step time of `mmzoo fit` within 5 % of the plain loop on the CPU. Measured with the",
        f"recipe as shipped: {100 * (ratio - 1):+.1f} % (median over rounds; over all steps pooled:",
        f"{100 * (pooled_ratio - 1):+.1f} %), which **{verdict}** the target. In CPU time the step costs",
        f"{100 * (cpu_ratio - 1):+.1f} % more. The 1-minute load average, read after each run, went from",
        f"{min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores (other jobs shared the machine).",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
