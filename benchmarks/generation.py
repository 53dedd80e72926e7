"""Sequence generation: CTC vs attention vs joint CTC/attention ASR, joint ASR + NLU vs an audio-only
intent baseline, and decoding speed.

Fits the five recipes of ``recipes/asr`` and ``recipes/slu`` (the same data, encoder and budget in
each group), tests each best checkpoint on its test split (voices, phrasings and slot values
unseen in training), and times greedy and beam search of the trained joint ASR model on the test
audio. Writes ``docs/benchmarks/generation.md``. Run from the repository root::

    .venv/bin/python benchmarks/generation.py
    .venv/bin/python benchmarks/generation.py --epochs 1 --limit 2   # a smoke run, not for the docs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
ASR = {
    "CTC": "recipes/asr/ctc.yaml",
    "attention": "recipes/asr/attention.yaml",
    "joint CTC/attention": "recipes/asr/joint_ctc_attention.yaml",
}
SLU = {"audio-only intent": "recipes/slu/intent_audio_only.yaml", "joint ASR + NLU": "recipes/slu/joint_asr_nlu.yaml"}


def _fit_and_test(recipe: str, overrides: list[str]) -> tuple[dict[str, Any], float, Path]:
    """Test metrics of the best checkpoint, the fit's wall time and the fit's run directory."""
    from mmzoo.run import run_recipe

    started = time.perf_counter()
    fit = run_recipe("fit", recipe, overrides)
    seconds = time.perf_counter() - started
    tested = run_recipe("test", fit.run_dir, overrides)
    metrics = json.loads((tested.run_dir / "results.json").read_text())["metrics"]
    return metrics, seconds, fit.run_dir


def _decoding_speed(fit_dir: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Utterances per second of greedy, beam 4 and beam 8 search (with and without the CTC prefix
    scores) over the test split, and the share of the search's wall time outside ATen operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mmzoo.build import build_datamodule, build_module
    from mmzoo.contracts import Batch
    from mmzoo.generation import search
    from mmzoo.generation_settings import SearchSettings
    from mmzoo.plugins import load_registry
    from mmzoo.recipe import load_recipe
    from mmzoo.run_checkpoints import load_weights

    registry = load_registry(warn=False)
    recipe = load_recipe(fit_dir / "recipe.yaml", overrides, registry)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    load_weights(module, next((fit_dir / "checkpoints").glob("best-*.ckpt")), trust=False)
    module.eval()
    datamodule.setup("test")
    batches: list[Batch] = list(datamodule.test_dataloader())
    decoder = module.decoders["transcript"]
    rows = sum(len(batch.ids) for batch in batches)
    with torch.no_grad():
        prepared = []
        for batch in batches:
            encoded = module.encode(batch)
            ctc = module.heads["ctc"](module.fusion(encoded), encoded)
            prepared.append((encoded["audio"].seq, encoded["audio"].mask, ctc))
    results = []
    for beam, ctc_weight in ((1, 0.0), (4, 0.0), (8, 0.0), (4, 0.3), (8, 0.3)):
        settings = SearchSettings(beam_size=beam, max_length=64, ctc_head="ctc" if ctc_weight else None,
                                  ctc_weight=ctc_weight)  # fmt: skip
        with torch.no_grad():
            started = time.perf_counter()
            for memory, mask, ctc in prepared:
                search(decoder, memory, mask, settings, ctc if ctc_weight else None)
            wall = time.perf_counter() - started
            with profile(activities=[ProfilerActivity.CPU]) as profiler:
                memory, mask, ctc = prepared[0]
                started = time.perf_counter()
                search(decoder, memory, mask, settings, ctc if ctc_weight else None)
                profiled = time.perf_counter() - started
        top_level = [
            event for event in profiler.events() if event.cpu_parent is None and event.name.startswith("aten::")
        ]
        in_aten = sum(event.cpu_time_total for event in top_level) / 1e6
        results.append(
            {
                "search": "greedy" if beam == 1 else f"beam {beam}",
                "ctc_weight": ctc_weight,
                "utterances_per_s": rows / wall,
                "python_share": max(0.0, 1.0 - in_aten / profiled),
            }
        )
    return results


def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs")
    parser.add_argument("--limit", type=int, default=None, help="limit train/val/test batches (smoke runs)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "generation.md")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mmzoo-generation-bench-"))
    overrides = [f"run.root={root}", "logger.wandb.mode=disabled"]
    if args.epochs:
        overrides.append(f"trainer.max_epochs={args.epochs}")
    if args.limit:
        overrides += [f"trainer.limit_{split}_batches={args.limit}" for split in ("train", "val", "test")]
    asr: dict[str, tuple[dict[str, Any], float]] = {}
    fit_dirs: dict[str, Path] = {}
    for name, recipe in {**ASR, **SLU}.items():
        metrics, seconds, fit_dirs[name] = _fit_and_test(recipe, overrides)
        asr[name] = (metrics, seconds)
        print(f"{name}: {seconds / 60:.1f} min, {json.dumps(metrics)}")
    speed = _decoding_speed(fit_dirs["joint CTC/attention"], overrides[:1])

    def metric(name: str, key: str) -> float | None:
        value = asr[name][0].get(key)
        return None if value is None else float(value)

    lines = [
        "# Sequence generation: ASR and spoken language understanding",
        "",
        "Written by `.venv/bin/python benchmarks/generation.py`"
        + (
            f" (`--epochs {args.epochs}`" + (f" `--limit {args.limit}`" if args.limit else "") + ")"
            if args.epochs
            else ""
        )
        + f" on {describe_cpu()}.",
        "",
        "Test splits of `recipes/data/slu` (120 utterances; voices, phrasings and slot values unseen in training);"
        " each model is the best checkpoint of one training run (seed 5) of its recipe, as shipped.",
        "",
        "## Speech recognition (`recipes/asr`)",
        "",
        "Same data, encoder, budget and beam (4) for all three. CER and WER of the decoded test transcripts: for"
        " CTC its prefix beam search, for the decoders their beam search (length penalty 1.0; joint: plus the"
        " CTC prefix scores, weight 0.3).",
        "",
        "| recipe | test CER | test WER | training |",
        "|---|---|---|---|",
    ]
    keys = {"CTC": "test/ctc", "attention": "test/attention", "joint CTC/attention": "test/attention"}
    for name, prefix in keys.items():
        lines.append(
            f"| {name} (`{ASR[name]}`) | {_cell(metric(name, prefix + '/cer'))} | {_cell(metric(name, prefix + '/wer'))}"
            f" | {asr[name][1] / 60:.1f} min |"
        )
    joint_ctc = metric("joint CTC/attention", "test/ctc/cer")
    lines += [
        "",
        f"The joint model's own CTC head, decoded alone (greedy), reaches test CER {_cell(joint_ctc)}.",
        "",
        "## Spoken language understanding (`recipes/slu`)",
        "",
        "| recipe | intent accuracy | slot F1 | WER | CER | training |",
        "|---|---|---|---|---|---|",
    ]
    for name in SLU:
        lines.append(
            f"| {name} (`{SLU[name]}`) | {_cell(metric(name, 'test/intent/accuracy'))}"
            f" | {_cell(metric(name, 'test/tagged/slot_f1'))} | {_cell(metric(name, 'test/tagged/wer'))}"
            f" | {_cell(metric(name, 'test/tagged/cer'))} | {asr[name][1] / 60:.1f} min |"
        )
    lines += [
        "",
        "Slot F1: micro F1 of exactly matching (type, value) pairs in the decoded transcript with inline slots;"
        " WER and CER compare the words with the slots unwrapped.",
        "",
        "## Decoding speed",
        "",
        "The trained joint ASR model's Transformer decoder on the 120 test utterances (memory from its encoder,"
        " computed once beforehand), batches of 16, `max_length` 64, on the CPU above. Python share: the share"
        " of one batch's search wall time not spent inside ATen operators (torch.profiler).",
        "",
        "| search | CTC prefix weight | utterances/s | Python share |",
        "|---|---|---|---|",
    ]
    for item in speed:
        lines.append(
            f"| {item['search']} | {item['ctc_weight']:g} | {item['utterances_per_s']:.1f} | {item['python_share']:.0%} |"
        )
    lines.append("")
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
