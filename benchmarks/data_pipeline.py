"""Throughput of the manifest pipeline: decode (soundfile) + resample + log-mel of 1 s clips.

Writes ``docs/benchmarks/data.md``::

    .venv/bin/python benchmarks/data_pipeline.py [--clips 512]

The clips are real speech (the espeak-ng digits in ``recipes/data/digits``) tiled to exactly one
second and stored as 22.05 kHz FLAC, so every example is decoded and resampled to 16 kHz before
its 80-band log-mel is computed. Each configuration iterates the training dataloader twice (batch
size 32) and reports clips per second for the second pass, after worker start-up.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

from mmzoo.data import ManifestDataModule
from mmzoo.plugins import load_registry

REPO = Path(__file__).resolve().parents[1]
SOURCE_RATE = 22050


def make_clips(folder: Path, count: int) -> Path:
    sources = sorted((REPO / "recipes" / "data" / "digits" / "audio").glob("*.flac"))
    rows = []
    for index in range(count):
        data, rate = soundfile.read(sources[index % len(sources)], dtype="float32")
        speech = torchaudio.functional.resample(torch.from_numpy(data), rate, SOURCE_RATE).numpy()
        clip = np.resize(speech, SOURCE_RATE)  # tile to exactly one second
        soundfile.write(folder / f"{index:05d}.flac", clip, SOURCE_RATE)
        rows.append({"audio": f"{index:05d}.flac", "label": index % 10})
    manifest = folder / "clips.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def clips_per_second(manifest: Path, workers: int, cache_dir: str | None) -> float:
    registry = load_registry(warn=False)
    log_mel = registry.get("transform", "log_mel").build({"n_mels": 80}, {})
    datamodule = ManifestDataModule(
        modalities={"audio": {"type": "audio", "sample_rate": 16000}},
        targets={"label": {"num_classes": 10}},
        train=str(manifest),
        val=str(manifest),  # fit needs a validation split; only the training loader is timed
        batch_size=32,
        num_workers=workers,
        cache_dir=cache_dir,
        transforms={"audio": [log_mel]},
    )
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    seconds = 0.0
    for _ in range(2):  # the second pass is timed
        start = time.perf_counter()
        count = sum(len(batch.ids) for batch in loader)
        seconds = time.perf_counter() - start
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=512)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "data.md")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread per process: what a DataLoader worker gets
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmzoo-data-bench-") as scratch:
        manifest = make_clips(Path(scratch), args.clips)
        cache = str(Path(scratch) / "cache")
        for label, workers, cache_dir in (
            ("0 workers", 0, None),
            ("2 workers", 2, None),
            ("0 workers, cache filled", 0, cache),
            ("2 workers, cache filled", 2, cache),
        ):
            rate = clips_per_second(manifest, workers, cache_dir)
            rows.append((label, rate))
            print(f"{label}: {rate:.0f} clips/s", flush=True)
    lines = [
        "# Benchmark: data pipeline",
        "",
        "Made by `benchmarks/data_pipeline.py` (re-run it to refresh this page).",
        f"Machine: {describe_cpu()}, torchaudio {torchaudio.__version__}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        f"{args.clips} one-second speech clips, 22.05 kHz FLAC, decoded with soundfile, resampled to 16 kHz and turned",
        "into 80-band log-mel features (`log_mel` transform), batch size 32, second pass over the data.",
        "With the cache, the first pass filled it and the timed pass reads the log-mel features back.",
        "",
        "| configuration | clips / s |",
        "|---|---|",
        *(f"| {label} | {rate:.0f} |" for label, rate in rows),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
