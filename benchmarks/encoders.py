"""Forward and forward+backward time of every registered encoder at standard input shapes.

Writes ``docs/benchmarks/encoders.md``::

    .venv/bin/python benchmarks/encoders.py [--repeats 5]

Each encoder is built with its registered ``example`` options (the small configurations the
contract tests use) and run on a batch of 8 with 25 % padding in every row but the first:
features ``(8, 200, 80)`` (2 s of log-mel), tokens ``(8, 64)``, waveform ``(8, 16000)`` (1 s at
16 kHz) and images ``(8, 3, 32, 32)`` (the size the timm example is configured for). Times are medians in milliseconds on the CPU, fp32.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script

from mmzoo.contracts import ModalitySpec
from mmzoo.plugins import load_registry

REPO = Path(__file__).resolve().parents[1]
BATCH = 8

SPECS = {
    "features": (ModalitySpec(kind="features", feature_dim=80, sample_rate=100.0), (200, 80)),
    "tokens": (ModalitySpec(kind="tokens", vocab_size=384, pad_id=0), (64,)),
    "waveform": (ModalitySpec(kind="waveform", sample_rate=16000.0), (16000,)),
    "image": (ModalitySpec(kind="image", channels=3, image_size=(32, 32)), (3, 32, 32)),
}


def inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    _, shape = SPECS[kind]
    if kind == "image":
        return torch.rand(BATCH, *shape), torch.ones(BATCH, 1, dtype=torch.bool)
    length = shape[0]
    lengths = torch.tensor([length] + [int(length * 0.75)] * (BATCH - 1))
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    if kind == "tokens":
        values = torch.randint(1, 384, (BATCH, length)) * mask
    else:
        values = torch.randn(BATCH, *shape)
    return values, mask


def median_ms(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def time_encoder(
    encoder: torch.nn.Module, values: torch.Tensor, mask: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Median milliseconds of a forward pass (no grad) and of a forward + backward pass."""

    def forward() -> None:
        with torch.no_grad():
            encoder(values, mask)

    def forward_backward() -> None:
        encoder.zero_grad(set_to_none=True)
        encoder(values, mask).pooled.square().mean().backward()

    return median_ms(forward, repeats), median_ms(forward_backward, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks" / "encoders.md")
    args = parser.parse_args()
    registry = load_registry(warn=False)
    rows = []
    for entry in registry.entries("encoder"):
        kinds = getattr(entry.factory, "input_kinds", ("features",))
        for kind in kinds:
            spec, _ = SPECS[kind]
            torch.manual_seed(0)
            encoder = entry.build(entry.example_options(), {"input_spec": spec})
            values, mask = inputs(kind)
            params = sum(p.numel() for p in encoder.parameters())

            encoder.train()
            fwd, fwd_bwd = time_encoder(encoder, values, mask, args.repeats)
            rows.append((entry.name, kind, params, fwd, fwd_bwd))
            print(f"{entry.name} ({kind}): {rows[-1][3]:.1f} / {rows[-1][4]:.1f} ms", flush=True)
    lines = [
        "# Benchmark: encoders",
        "",
        "Made by `benchmarks/encoders.py` (re-run it to refresh this page).",
        f"Machine: {describe_cpu()}, fp32, no GPU. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        "Each encoder with its registered `example` options (small configurations), batch 8 with 25 % padding:",
        "features (8, 200, 80), tokens (8, 64), waveform (8, 16000), images (8, 3, 32, 32). Median of",
        f"{args.repeats} runs after one warm-up.",
        "",
        "| encoder | input | parameters | forward (ms) | forward + backward (ms) |",
        "|---|---|---|---|---|",
        *(
            f"| `{name}` | {kind} | {params:,} | {fwd:.1f} | {fwd_bwd:.1f} |"
            for name, kind, params, fwd, fwd_bwd in rows
        ),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
