"""Sequence generation: CTC vs attention vs joint CTC/attention ASR, joint ASR + NLU vs an audio-only
intent baseline, and decoding speed.

Fits the five recipes of ``recipes/asr`` and ``recipes/slu`` (the same data, encoder and budget in
each group) and the joint ASR recipe with the LSTM decoder, tests each best checkpoint on its test split (voices, phrasings and slot values
unseen in training), and times greedy and beam search of the trained joint ASR model on the test
audio. Writes ``docs/benchmarks/generation.md``. Run from the repository root::

    .venv/bin/python benchmarks/generation.py
    .venv/bin/python benchmarks/generation.py --only "joint ASR + NLU"   # refit one row, keep the others
    .venv/bin/python benchmarks/generation.py --epochs 1 --limit 2 --out /tmp/smoke.md   # a smoke run
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
    "joint CTC/attention, LSTM decoder": "recipes/asr/joint_ctc_attention.yaml",
}
SLU = {"audio-only intent": "recipes/slu/intent_audio_only.yaml", "joint ASR + NLU": "recipes/slu/joint_asr_nlu.yaml"}
#: Overrides of a row's recipe: the joint recipe with the LSTM decoder (location-aware attention)
#: in place of the Transformer, everything else as shipped.
VARIANTS = {
    "joint CTC/attention, LSTM decoder": [
        "model.decoders.transcript={name: lstm, memory: audio, target: transcript, dim: 128, layers: 1,"
        " attention: location, dropout: 0.1, search: {beam_size: 4, max_length: 64, length_penalty: 1.0,"
        " ctc_head: ctc, ctc_weight: 0.3}}"
    ]
}


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
    parser.add_argument(
        "--only",
        nargs="*",
        choices=sorted({**ASR, **SLU}),
        help="refit these rows only (none: just rewrite the page) and take the others, and the decoding speed"
        " unless the joint CTC/attention row is refit, from the results an earlier run kept beside --out"
        " (same CPU only)",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mmzoo-generation-bench-"))
    overrides = [f"run.root={root}", "logger.wandb.mode=disabled"]
    if args.epochs:
        overrides.append(f"trainer.max_epochs={args.epochs}")
    if args.limit:
        overrides += [f"trainer.limit_{split}_batches={args.limit}" for split in ("train", "val", "test")]
    kept = args.out.with_suffix(".json")  # every row's figures, for a later --only
    results: dict[str, Any] = {"cpu": describe_cpu(), "rows": {}, "speed": None}
    if args.only is not None:
        earlier = json.loads(kept.read_text()) if kept.is_file() else None
        if earlier is None or earlier["cpu"] != results["cpu"]:
            raise SystemExit(f"--only needs the results of a full run on this CPU in {kept}; run without --only")
        results = earlier
    run_started = time.strftime("%Y-%m-%d %H:%M")
    fit_dirs: dict[str, Path] = {}
    for name, recipe in {**ASR, **SLU}.items():
        if args.only is not None and name not in args.only:
            continue
        metrics, seconds, fit_dirs[name] = _fit_and_test(recipe, overrides + VARIANTS.get(name, []))
        results["rows"][name] = {"metrics": metrics, "seconds": seconds, "run": run_started}
        print(f"{name}: {seconds / 60:.1f} min, {json.dumps(metrics)}")
    if "joint CTC/attention" in fit_dirs:
        results["speed"] = _decoding_speed(fit_dirs["joint CTC/attention"], overrides[:1])
    speed = results["speed"]
    kept.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    asr = {name: (row["metrics"], row["seconds"]) for name, row in results["rows"].items()}
    runs = {name: row["run"] for name, row in results["rows"].items()}

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
        + f" on {results['cpu']}"
        + (
            "."
            if len(set(runs.values())) == 1
            else "; rows from runs started at different times (UTC; `--only` refits some): "
            + ", ".join(f"{name} {run}" for name, run in runs.items())
            + "."
        ),
        "",
        "Test splits of `recipes/data/slu` (120 utterances; voices, phrasings and slot values unseen in training);"
        " each model is the best checkpoint of one training run (seed 5) of its recipe, as shipped.",
        "",
        "## Speech recognition (`recipes/asr`)",
        "",
        "Same data, encoder, budget and beam (4) for all four. CER and WER of the decoded test transcripts: for"
        " CTC its prefix beam search, for the decoders their beam search (length penalty 1.0; joint: plus the"
        " CTC prefix scores, weight 0.3).",
        "",
        "| recipe | test CER | test WER | training |",
        "|---|---|---|---|",
    ]
    for name in ASR:
        prefix = "test/ctc" if name == "CTC" else "test/attention"
        recipe = f"`{ASR[name]}`" + (" with `model.decoders.transcript` an `lstm`" if name in VARIANTS else "")
        lines.append(
            f"| {name} ({recipe}) | {_cell(metric(name, prefix + '/cer'))} | {_cell(metric(name, prefix + '/wer'))}"
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
