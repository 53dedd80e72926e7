"""Parameters, forward+backward time and activation memory of every registered fusion.

Writes ``docs/benchmarks/fusions.md``::

    .venv/bin/python benchmarks/fusions.py [--repeats 5] [--device cuda]

Standard shape: batch 32, two modalities with sequences of 128 and 64 steps (25 % padding in half
of the rows), width 256, fusion ``dim`` 256 and otherwise each fusion's defaults. Memory is the
size of the tensors autograd saves for the backward pass (the activation memory of the fusion,
measured with ``torch.autograd.graph.saved_tensors_hooks``, the same on any device); on CUDA the
peak allocated memory is reported too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

from mmzoo.contracts import Encoded
from mmzoo.ops.masking import masked_mean
from mmzoo.plugins import load_registry

REPO = Path(__file__).resolve().parents[1]
BATCH, WIDTH = 32, 256
LENGTHS = {"audio": 128, "text": 64}


def make_inputs(device: torch.device) -> dict[str, Encoded]:
    generator = torch.Generator().manual_seed(0)
    encoded = {}
    for modality, length in LENGTHS.items():
        real = torch.full((BATCH,), length)
        real[BATCH // 2 :] = int(length * 0.75)
        mask = (torch.arange(length).unsqueeze(0) < real.unsqueeze(1)).to(device)
        seq = torch.randn(BATCH, length, WIDTH, generator=generator).to(device).requires_grad_(True)
        encoded[modality] = Encoded(seq=seq, mask=mask, pooled=masked_mean(seq, mask))
    return encoded


def saved_bytes(fusion: torch.nn.Module, encoded: dict[str, Encoded]) -> int:
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = fusion(encoded)
    out.pooled.square().mean().backward()
    return total


def time_ms(fusion: torch.nn.Module, encoded: dict[str, Encoded], repeats: int, device: torch.device) -> float:
    def step() -> None:
        fusion.zero_grad(set_to_none=True)
        fresh = {m: Encoded(e.seq, e.mask, masked_mean(e.seq, e.mask)) for m, e in encoded.items()}
        fusion(fresh).pooled.square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "fusions.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    registry = load_registry(warn=False)
    dims = dict.fromkeys(LENGTHS, WIDTH)
    rows = []
    for entry in registry.entries("fusion"):
        torch.manual_seed(0)
        options = {"dim": WIDTH} if entry.option("dim") else {}
        fusion = entry.build(options, {"input_dims": dims}).to(device).train()
        params = sum(p.numel() for p in fusion.parameters())
        encoded = make_inputs(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        activation = saved_bytes(fusion, make_inputs(device))
        peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
        milliseconds = time_ms(fusion, encoded, args.repeats, device)
        rows.append((entry.name, params, milliseconds, activation, peak, entry.factory.handles_missing))
        print(f"{entry.name}: {params:,} params, {milliseconds:.1f} ms, {activation / 2**20:.1f} MiB", flush=True)

    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    else:
        where = f"{describe_cpu()}, fp32"
    peak_header = " peak CUDA memory (MiB) |" if device.type == "cuda" else ""
    lines = [
        "# Benchmark: fusions",
        "",
        "Made by `benchmarks/fusions.py` (re-run it to refresh this page).",
        f"Device: {where}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        f"Batch {BATCH}, two modalities with sequences of {LENGTHS['audio']} and {LENGTHS['text']} steps (a quarter of",
        f"each padded in half of the rows), width {WIDTH}, fusion `dim` {WIDTH}, other options at their defaults.",
        "Forward + backward time is the median of the runs after a warm-up; activation memory is what",
        "autograd saves for the backward pass inside the fusion.",
        "",
        f"| fusion | parameters | forward + backward (ms) | activation memory (MiB) |{peak_header} handles missing modalities |",
        "|---|---|---|---|" + ("---|" if device.type == "cuda" else "") + "---|",
    ]
    for name, params, ms, activation, peak, missing in rows:
        peak_cell = f" {peak / 2**20:.1f} |" if peak is not None else ""
        lines.append(
            f"| `{name}` | {params:,} | {ms:.1f} | {activation / 2**20:.1f} |{peak_cell} {'yes' if missing else 'no'} |"
        )
    lines.append("")
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
