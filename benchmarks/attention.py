"""mmzoo's fused attention kernel against SDPA and compiled FlexAttention: TFLOP/s, peak memory, error.

Writes ``docs/performance.md`` (on a CUDA GPU; CPU figures are for smoke tests only)::

    .venv/bin/python benchmarks/attention.py --device cuda --end-to-end --results runs/attention.json
    .venv/bin/python benchmarks/attention.py --device cuda --quick --output /tmp/attention.md
    TRITON_INTERPRET=1 .venv/bin/python benchmarks/attention.py --device cpu --quick --head-dims 16 \
        --seq-lens 32 --tokens 64 --heads 1 --repeats 1 --output /tmp/attention-cpu.md

With ``--results`` every measured row is saved as it comes; running the same command again skips
the rows already there (a run cut short by a time limit goes on where it stopped).

Shapes follow the FlashAttention-2/-3 papers' benchmark, so that the no-mask rows can be compared
with their published H100 figures: self-attention, batch x sequence length = 16k tokens, hidden
size 2048, i.e. 32 heads of dim 64 or 16 heads of dim 128, bf16.

Padding: row ``b`` of ``B`` keeps its first ``round(T * (1 - 2p (b + 1/2) / B))`` tokens (at least
one), so the padded fraction averages ``p`` and lengths are spread evenly (no randomness). The
kernel gets ``key_lengths = query_lengths = lengths``; SDPA gets the boolean key mask ``(B, 1, 1,
T)`` (it cannot skip padded queries); FlexAttention gets a BlockMask whose ``mask_mod`` drops padded
keys and padded queries. Rows with 0 % padding run all three without any mask. Outputs and errors
are compared at real query rows only.

FLOPs count useful work only: forward ``4 H D sum_b len_b^2`` (two matmuls over real query x real
key pairs), backward 2.5x forward (five matmuls), forward+backward 3.5x forward, the FlashAttention
papers' convention. ``dense/useful`` gives the factor to the dense count ``4 B H D T^2`` that
published unmasked figures use.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _machine import describe_cpu  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from _page import markers, splice  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "docs" / "performance.md"
HIDDEN = 2048
TOKENS = 16 * 1024
FULL = {"head_dims": (64, 128), "seq_lens": (512, 1024, 2048, 4096, 8192), "paddings": (0.0, 0.25, 0.5)}
QUICK_CUDA = {"head_dims": (64, 128), "seq_lens": (1024, 4096), "paddings": (0.0, 0.5)}
QUICK_CPU = {"head_dims": (64,), "seq_lens": (64, 128), "paddings": (0.0, 0.5), "tokens": 256, "heads": 2}

#: FlashAttention-2 forward throughput (TFLOP/s) on H100 80GB SXM5, no mask, FP16, 16k tokens,
#: hidden 2048: the FlashAttention-2 bars of the non-causal forward panels of Figure 5 ("Attention
#: forward speed") of Shah et al., "FlashAttention-3" (arXiv:2407.08608). Checked against three
#: independent transcriptions of the figure (the PDF itself could not be opened here, so the check is of
#: transcriptions, not pixels). Two agree on every value below; the third set quoted for head dim 64
#: earlier (180, 229, 262, 284, 295) belongs to the causal-mask panel of the same figure: its
#: standard-attention bars are 16-18 TFLOP/s against 52-73 in the non-causal panel, and its
#: FlashAttention-3 bars top out at 473 against 497. head dim -> sequence length -> TFLOP/s.
FA2_H100_FORWARD: dict[int, dict[int, float]] = {
    64: {512: 282, 1024: 306, 2048: 318, 4096: 321, 8192: 322},
    128: {512: 309, 1024: 350, 2048: 362, 4096: 368, 8192: 370},
}

#: Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by the vendor's datasheets, by the device name's
#: model: H100 SXM and H200 SXM share the chip and its rate.
DENSE_BF16_PEAK: dict[str, float] = {"H100": 989.4, "H200": 989.4}

#: End to end: a fusion recipe whose cross-attention fusion runs through mmzoo's attention function.
E2E_RECIPE = REPO / "recipes" / "speech_qc" / "audio_text.yaml"


@dataclass(frozen=True)
class Case:
    head_dim: int
    heads: int
    seq_len: int
    batch: int
    padding: float

    def lengths(self) -> list[int]:
        """Real tokens per row: evenly spread, mean padded fraction ``padding``, deterministic."""
        return [
            max(1, round(self.seq_len * (1 - 2 * self.padding * (b + 0.5) / self.batch))) for b in range(self.batch)
        ]

    def useful_forward_flops(self) -> float:
        return 4.0 * self.heads * self.head_dim * sum(n * n for n in self.lengths())

    def dense_forward_flops(self) -> float:
        return 4.0 * self.batch * self.heads * self.head_dim * self.seq_len**2


@dataclass
class Measured:
    """One backend on one case; ``None`` where not measured, ``note`` says why."""

    forward_ms: float | None = None
    backward_total_ms: float | None = None  # forward + backward
    peak_mib: float | None = None
    max_error: float | None = None
    mean_error: float | None = None
    note: str | None = None


@dataclass
class Row:
    case: Case
    results: dict[str, Measured] = field(default_factory=dict)
    block_mask_ms: float | None = None
    fa2_forward_ms: float | None = None  # flash_attn measured on this GPU, no-mask rows only


BACKENDS = ("kernel", "sdpa", "flex")


# -- timing -------------------------------------------------------------------------------------


def bench_ms(fn: Callable[[], Any], device: torch.device, grads: list[torch.Tensor], repeats: int) -> float:
    """Median milliseconds of ``fn``: CUDA events through Triton's ``do_bench`` on CUDA, a wall clock elsewhere."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return float(do_bench(fn, warmup=25, rep=100, grad_to_none=grads, return_mode="median"))
    fn()
    times = []
    for _ in range(repeats):
        for tensor in grads:
            tensor.grad = None
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_mib(fn: Callable[[], Any], device: torch.device, grads: list[torch.Tensor]) -> float | None:
    """Memory allocated at the peak of one call of ``fn`` above what was allocated before it."""
    if device.type != "cuda":
        return None
    for tensor in grads:
        tensor.grad = None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    for tensor in grads:
        tensor.grad = None
    return peak / 2**20


# -- backends -----------------------------------------------------------------------------------


def kernel_problem(query: torch.Tensor) -> str | None:
    """Why the fused kernel cannot run on these tensors, or ``None``."""
    try:
        from mmzoo.ops.fused_attention import fused_attention_unsupported
    except ImportError as exc:
        return f"mmzoo.ops.fused_attention cannot be imported: {exc}"
    return fused_attention_unsupported(query, query, query)


def make_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor | None) -> Callable[[], Any]:
    from mmzoo.ops.fused_attention import fused_attention

    if lengths is None:
        return lambda: fused_attention(q, k, v)
    return lambda: fused_attention(q, k, v, key_lengths=lengths, query_lengths=lengths)


def make_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None) -> Callable[[], Any]:
    if key_mask is None:
        return lambda: F.scaled_dot_product_attention(q, k, v)
    mask = key_mask[:, None, None, :]
    return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def padding_mask_mod(lengths: torch.Tensor) -> Callable[..., Any]:
    def mask_mod(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        return (q_idx < lengths[b]) & (kv_idx < lengths[b])

    return mask_mod


_COMPILED_FLEX: list[Any] = []


def compiled_flex() -> Any:
    """One ``torch.compile(flex_attention)`` for the whole run (it specialises per shape by itself)."""
    if not _COMPILED_FLEX:
        from torch.nn.attention.flex_attention import flex_attention

        _COMPILED_FLEX.append(torch.compile(flex_attention, dynamic=False))
    return _COMPILED_FLEX[0]


def make_flex(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor | None, mode: str, repeats: int
) -> tuple[Callable[[], Any], float | None]:
    """FlexAttention (compiled or eager) and the time to create its BlockMask (``None`` without a mask)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    if mode == "compiled":
        attend = compiled_flex()
    else:

        def attend(*args: Any, **kwargs: Any) -> Any:
            with warnings.catch_warnings():  # its advice to compile: the page says this run is eager
                warnings.simplefilter("ignore", UserWarning)
                return flex_attention(*args, **kwargs)

    if lengths is None:
        return (lambda: attend(q, k, v)), None
    batch, _, seq_len, _ = q.shape

    def build() -> Any:
        return create_block_mask(padding_mask_mod(lengths), batch, None, seq_len, seq_len, device=q.device)

    build()
    times = []
    for _ in range(max(3, min(repeats, 10))):
        if q.is_cuda:
            torch.cuda.synchronize(q.device)
        start = time.perf_counter()
        block_mask = build()
        if q.is_cuda:
            torch.cuda.synchronize(q.device)
        times.append((time.perf_counter() - start) * 1000)
    return (lambda: attend(q, k, v, block_mask=block_mask)), statistics.median(times)


def fa2_forward_ms(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, repeats: int) -> float | None:
    """FlashAttention-2 (the ``flash_attn`` package) on the same unmasked inputs, when it is installed."""
    try:
        from flash_attn import flash_attn_func
    except Exception:
        return None
    qt, kt, vt = (t.detach().transpose(1, 2).contiguous().requires_grad_(True) for t in (q, k, v))
    return bench_ms(lambda: flash_attn_func(qt, kt, vt), q.device, [qt, kt, vt], repeats)


def dense_peak(device: torch.device) -> float | None:
    """The datasheet dense bf16 peak of this GPU (TFLOP/s), where :data:`DENSE_BF16_PEAK` knows it."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for model, peak in DENSE_BF16_PEAK.items() if model in name), None)


def matmul_tflops(device: torch.device, size: int = 8192) -> float | None:
    """cuBLAS's bf16 rate on this GPU: a ``size``-cubed product of random matrices (the measured ceiling)."""
    if device.type != "cuda":
        return None
    a, b = (torch.randn(size, size, device=device, dtype=torch.bfloat16) for _ in range(2))
    ms = bench_ms(lambda: a @ b, device, [], 1)
    return 2 * size**3 / (ms * 1e-3) / 1e12


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """fp32 attention of each row over its real tokens only (SDPA's math backend), ``(H, len, D)`` per row."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    outputs = []
    allow_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            for b, n in enumerate(lengths):
                parts = []
                for h in range(0, q.shape[1], 4):  # a few heads at a time: the scores are (heads, n, n) fp32
                    sl = slice(h, h + 4)
                    parts.append(
                        F.scaled_dot_product_attention(q[b, sl, :n].float(), k[b, sl, :n].float(), v[b, sl, :n].float())
                    )
                outputs.append(torch.cat(parts))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    return outputs


def errors(out: torch.Tensor, ref: list[torch.Tensor], lengths: list[int]) -> tuple[float, float]:
    """Max and mean absolute error against the fp32 reference, over real query rows."""
    worst, total, count = 0.0, 0.0, 0
    for b, n in enumerate(lengths):
        diff = (out[b, :, :n].float() - ref[b]).abs()
        worst = max(worst, float(diff.max()))
        total += float(diff.sum())
        count += diff.numel()
    return worst, total / count


# -- one case -----------------------------------------------------------------------------------


def run_case(
    case: Case, device: torch.device, dtype: torch.dtype, flex: str, repeats: int, backends: tuple[str, ...] = BACKENDS
) -> Row:
    row = Row(case)
    generator = torch.Generator().manual_seed(case.seq_len * 1000 + case.head_dim + int(case.padding * 100))
    shape = (case.batch, case.heads, case.seq_len, case.head_dim)
    q, k, v = (torch.randn(shape, generator=generator).to(device, dtype).requires_grad_(True) for _ in range(3))
    grads = [q, k, v]
    lengths = case.lengths()
    masked = case.padding > 0
    lengths_t = torch.tensor(lengths, device=device, dtype=torch.int32) if masked else None
    key_mask = (torch.arange(case.seq_len, device=device)[None, :] < lengths_t[:, None]) if masked else None
    # The gradient flowing into the output: zero at padded query rows, which no backend should learn from.
    grad_out = torch.randn(shape, generator=generator).to(device, dtype)
    if key_mask is not None:
        grad_out = grad_out * key_mask[:, None, :, None].to(dtype)
    ref = reference(q, k, v, lengths)

    makers: dict[str, Callable[[], tuple[Callable[[], Any], str | None]]] = {}
    problem = kernel_problem(q)
    makers["kernel"] = lambda: ((lambda: None), problem) if problem else (make_kernel(q, k, v, lengths_t), None)
    makers["sdpa"] = lambda: (make_sdpa(q, k, v, key_mask), None)

    def flex_maker() -> tuple[Callable[[], Any], str | None]:
        if flex == "off":
            return (lambda: None), "not run (--flex off)"
        fn, row.block_mask_ms = make_flex(q, k, v, lengths_t, flex, repeats)
        return fn, None

    makers["flex"] = flex_maker

    for name in BACKENDS:
        measured = Measured()
        row.results[name] = measured
        # FlexAttention has no backward on CPU: there it runs forward only, on inputs without grad.
        forward_only = name == "flex" and device.type != "cuda"
        try:
            if forward_only:
                q, k, v = (t.detach() for t in grads)
            fn, note = makers[name]() if name in backends else ((lambda: None), "not run (--backends)")
            if note is not None:
                measured.note = note
                continue
            out = fn()
            measured.max_error, measured.mean_error = errors(out.detach(), ref, lengths)
            del out
            measured.forward_ms = bench_ms(fn, device, [] if forward_only else grads, repeats)
            if forward_only:
                measured.note = "forward only: no backward on this device"
                continue

            def forward_backward(fn: Callable[[], Any] = fn) -> None:
                fn().backward(grad_out)

            measured.backward_total_ms = bench_ms(forward_backward, device, grads, repeats)
            measured.peak_mib = peak_mib(forward_backward, device, grads)
        except Exception as exc:  # one failing backend must not hide the others' figures
            message = str(exc).splitlines()[0][:160] if str(exc) else ""
            measured.note = f"failed: {type(exc).__name__}: {message}"
            print(f"  {name}: {measured.note}", flush=True)
        finally:
            q, k, v = grads
            for tensor in grads:
                tensor.grad = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if not masked and device.type == "cuda":
        row.fa2_forward_ms = fa2_forward_ms(q, k, v, repeats)
    return row


# -- end to end ---------------------------------------------------------------------------------


def end_to_end(
    recipe: Path, device: torch.device, overrides: list[str], steps: int, warmup: int, rounds: int
) -> dict[str, Any]:
    """Median training step and peak memory of ``recipe`` with ``model.attention=sdpa`` and ``=fused``,
    alternated, then (on CUDA) the host-device synchronisations inside a step of each."""
    import tempfile

    from lightning_overhead import run_lightning

    common = [
        f"trainer.max_steps={warmup + steps}",
        "logger.wandb.mode=disabled",
        f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
        "trainer.devices=1",
        *(["trainer.precision=bf16-mixed"] if device.type == "cuda" else []),
        *overrides,
    ]
    times: dict[str, list[float]] = {"sdpa": [], "fused": []}
    steps_seen: dict[str, list[float]] = {"sdpa": [], "fused": []}
    peaks: dict[str, list[float]] = {"sdpa": [], "fused": []}
    failures: dict[str, str] = {}
    syncs: dict[str, list[dict[str, Any]]] | None = {} if device.type == "cuda" else None
    with tempfile.TemporaryDirectory(prefix="mmzoo-attention-e2e-") as root:
        for index in range(rounds):
            for backend in ("sdpa", "fused") if index % 2 == 0 else ("fused", "sdpa"):
                if backend in failures:
                    continue
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                try:
                    samples = run_lightning(recipe, [*common, f"model.attention={backend}"], warmup, Path(root))
                except Exception as exc:  # e.g. the kernel cannot run on this device
                    failures[backend] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                    print(f"  end to end, {backend}: failed: {failures[backend]}", flush=True)
                    continue
                times[backend] += samples.inside
                steps_seen[backend] += samples.step
                if device.type == "cuda":
                    peaks[backend].append(torch.cuda.max_memory_allocated(device) / 2**20)
                print(f"  end to end, {backend}: {statistics.median(samples.inside):.2f} ms", flush=True)
        if syncs is not None:
            for backend in ("sdpa", "fused"):
                if backend in failures:
                    continue
                try:
                    syncs[backend] = sync_sites(recipe, [*common, f"model.attention={backend}"], Path(root))
                except Exception as exc:  # the timings above stand without it
                    failures[f"{backend} sync check"] = f"{type(exc).__name__}: {str(exc)[:200]}"
                    continue
                print(f"  end to end, {backend}: {len(syncs[backend])} synchronising call sites", flush=True)
    rel = recipe.relative_to(REPO) if recipe.is_relative_to(REPO) else recipe
    return {
        "inside": times,
        "step": steps_seen,
        "peak_mib": peaks,
        "syncs": syncs,
        "overrides": common,
        "failures": failures,
        "recipe": str(rel),
        "rounds": rounds,
    }


#: Where a traced synchronisation is attributed: the first frame outside these packages.
_LIBRARIES = ("/torch/", "/lightning/", "/lightning_utilities/", "/torchmetrics/", "/contextlib.py")


def sync_sites(recipe: Path, overrides: list[str], root: Path, warmup: int = 2, steps: int = 4) -> list[dict[str, Any]]:
    """Host-device synchronisations inside the training steps of a short ``fit`` of ``recipe``.

    ``torch.cuda.set_sync_debug_mode("warn")`` is on from ``on_train_batch_start`` to
    ``on_train_batch_end`` (forward, backward, optimizer step) for ``steps`` steps after ``warmup``.
    Each warning is traced to its first frame outside torch/Lightning (``site``) and the innermost frame
    (``via``). Returns one entry per (site, via) with its count, most frequent first.
    """
    import traceback
    from collections import Counter

    import lightning.pytorch as pl
    from lightning_overhead import run_lightning

    counts: Counter[tuple[str, str]] = Counter()

    def record(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if "synchronizing" not in str(message):
            return
        # Without this function's own frame and the warnings machinery that called it.
        frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.endswith("warnings.py")]
        outside = [f for f in frames if not any(part in f.filename for part in _LIBRARIES)]
        site = outside[-1] if outside else frames[-1]
        if Path(site.filename).parent == Path(__file__).parent:
            return  # the benchmark's own step timer synchronises around the step, not inside it
        via = frames[-1]
        counts[(f"{_short(site.filename)}:{site.lineno} {site.name}", f"{_short(via.filename)}:{via.lineno} {via.name}")] += 1

    class SyncWatch(pl.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx >= warmup:
                warnings.filterwarnings("always", message=".*synchronizing")
                warnings.showwarning = record
                torch.cuda.set_sync_debug_mode("warn")

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            torch.cuda.set_sync_debug_mode("default")

    try:
        run_lightning(
            recipe,
            [*overrides, f"trainer.max_steps={warmup + steps}", "trainer.enable_progress_bar=false"],
            0,
            root,
            callbacks=[SyncWatch()],
        )
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return [{"site": site, "via": via, "count": n} for (site, via), n in counts.most_common()]


def _short(filename: str) -> str:
    """A path from its package on (``mmzoo/module.py``, ``torch/nn/functional.py``)."""
    parts = Path(filename).parts
    for anchor in ("mmzoo", "torch", "lightning", "torchmetrics", "benchmarks"):
        if anchor in parts:
            return "/".join(parts[len(parts) - 1 - parts[::-1].index(anchor) :])
    return Path(filename).name


# -- page ---------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_rate(value: float | None) -> str:
    """TFLOP/s: one decimal on a GPU, three significant digits for the tiny CPU figures."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def tflops(flops: float, ms: float | None) -> float | None:
    return None if ms is None or ms <= 0 else flops / (ms * 1e-3) / 1e12


def speedup(base: float | None, new: float | None) -> str:
    return "n/a" if base is None or new is None or new <= 0 else f"{base / new:.2f}x"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| T | B | padding | fwd TFLOP/s kernel / SDPA / Flex | fwd+bwd TFLOP/s kernel / SDPA / Flex"
        " | fwd speed-up vs SDPA / Flex | fwd+bwd speed-up vs SDPA / Flex | peak MiB kernel / SDPA / Flex"
        " | max abs error kernel / SDPA | mean abs error kernel / SDPA | BlockMask ms | dense/useful |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        case, r = row.case, row.results
        fwd_flops = case.useful_forward_flops()
        padded = 1 - sum(case.lengths()) / (case.batch * case.seq_len)
        fwd = " / ".join(fmt_rate(tflops(fwd_flops, r[n].forward_ms)) for n in BACKENDS)
        both = " / ".join(fmt_rate(tflops(3.5 * fwd_flops, r[n].backward_total_ms)) for n in BACKENDS)
        k = r["kernel"]
        fwd_up = f"{speedup(r['sdpa'].forward_ms, k.forward_ms)} / {speedup(r['flex'].forward_ms, k.forward_ms)}"
        both_up = (
            f"{speedup(r['sdpa'].backward_total_ms, k.backward_total_ms)} /"
            f" {speedup(r['flex'].backward_total_ms, k.backward_total_ms)}"
        )
        peak = " / ".join(fmt(r[n].peak_mib, 0) for n in BACKENDS)
        max_err = f"{fmt_err(k.max_error)} / {fmt_err(r['sdpa'].max_error)}"
        mean_err = f"{fmt_err(k.mean_error)} / {fmt_err(r['sdpa'].mean_error)}"
        block = fmt(row.block_mask_ms, 2) if case.padding > 0 else "-"
        ratio = case.dense_forward_flops() / fwd_flops
        lines.append(
            f"| {case.seq_len} | {case.batch} | {100 * case.padding:.0f} % ({100 * padded:.1f} %) | {fwd} | {both} |"
            f" {fwd_up} | {both_up} | {peak} | {max_err} | {mean_err} | {block} | {ratio:.2f} |"
        )
    return lines


def fmt_err(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}"


def notes(rows: list[Row]) -> list[str]:
    seen: dict[str, str] = {}
    for row in rows:
        for name, measured in row.results.items():
            if measured.note and name not in seen:
                seen[name] = measured.note
    labels = {"kernel": "fused kernel", "sdpa": "SDPA", "flex": "FlexAttention"}
    return [f"- {labels[name]}: n/a ({note})" for name, note in seen.items()]


def targets(rows: list[Row], device: torch.device, e2e: list[dict[str, Any]], ceiling: float | None = None) -> list[str]:
    lines = ["## Targets", ""]
    # 1. error: the kernel's bf16 error within 2x SDPA's.
    ratios = [
        (row, row.results["kernel"].max_error / row.results["sdpa"].max_error)
        for row in rows
        if row.results["kernel"].max_error is not None and row.results["sdpa"].max_error
    ]
    if ratios:
        worst_row, worst = max(ratios, key=lambda item: item[1])
        passed = sum(ratio <= 2 for _, ratio in ratios)
        lines.append(
            f"- Error: kernel max abs error at most 2x SDPA's in {passed} of {len(ratios)} rows; worst ratio"
            f" {worst:.2f} (D {worst_row.case.head_dim}, T {worst_row.case.seq_len},"
            f" {100 * worst_row.case.padding:.0f} % padding). **{'met' if passed == len(ratios) else 'not met'}**."
        )
    else:
        lines.append("- Error: not measured (no kernel figures).")
    # 2. no mask: forward against FlashAttention-2.
    checks = []
    for row in rows:
        published = FA2_H100_FORWARD.get(row.case.head_dim, {}).get(row.case.seq_len)
        ours = tflops(row.case.useful_forward_flops(), row.results["kernel"].forward_ms)
        if row.case.padding == 0 and ours is not None and published is not None:
            measured = tflops(row.case.useful_forward_flops(), row.fa2_forward_ms)
            checks.append((row.case, ours, published, measured))
    if checks:
        parts = []
        for case, ours, published, measured in checks:
            here = f", FA2 here {measured:.0f}" if measured is not None else ""
            parts.append(
                f"D {case.head_dim} T {case.seq_len}: {ours:.0f} / {published:.0f} = {ours / published:.2f}{here}"
            )
        passed = sum(ours >= 0.8 * published for _, ours, published, _ in checks)
        lines.append(
            f"- No mask, forward at least 0.8x FlashAttention-2's published H100 TFLOP/s (FP16, same shapes):"
            f" {passed} of {len(checks)} shapes. " + "; ".join(parts) + "."
        )
        best = max(ours for _, ours, _, _ in checks)
        peak = dense_peak(device)
        fractions = [f"{best / peak:.0%} of the datasheet dense bf16 peak ({peak:.0f})"] if peak else []
        if ceiling:
            fractions.append(f"{best / ceiling:.0%} of cuBLAS's bf16 rate measured here ({ceiling:.0f})")
        if fractions:
            lines.append(f"  Best no-mask forward: {best:.0f} TFLOP/s, " + " and ".join(fractions) + ".")
        if device.type == "cuda" and "H100" not in torch.cuda.get_device_name(device):
            lines.append("  (This GPU is not an H100: the comparison with the published H100 figures is indicative.)")
    else:
        lines.append(
            "- No mask vs FlashAttention-2: not compared (no kernel figure at 0 % padding for a head dim and"
            " sequence length of the published table)."
        )
    # 3. padding: speed-ups where padding matters most.
    chosen = [
        row for row in rows if row.case.head_dim == 64 and row.case.padding == 0.5 and 1024 <= row.case.seq_len <= 4096
    ]
    for label, attr in (("forward", "forward_ms"), ("forward+backward", "backward_total_ms")):
        for other, name in (("SDPA", "sdpa"), ("FlexAttention", "flex")):
            values = [
                getattr(row.results[name], attr) / getattr(row.results["kernel"], attr)
                for row in chosen
                if getattr(row.results[name], attr) and getattr(row.results["kernel"], attr)
            ]
            if values:
                lines.append(
                    f"- 50 % padding, T 1k-4k, D 64, {label}: kernel speed-up over {other}"
                    f" min {min(values):.2f}x, max {max(values):.2f}x."
                )
    # 4. end to end.
    for run in e2e:
        sdpa_ms = statistics.median(run["inside"]["sdpa"]) if run["inside"]["sdpa"] else None
        fused_ms = statistics.median(run["inside"]["fused"]) if run["inside"]["fused"] else None
        if sdpa_ms and fused_ms:
            lines.append(
                f"- End to end ({variant_label(run)}): training step {sdpa_ms:.2f} ms with SDPA, {fused_ms:.2f} ms"
                f" with the kernel: speed-up {sdpa_ms / fused_ms:.2f}x"
                f" (**{'faster' if fused_ms < sdpa_ms else 'not faster'}**)."
            )
        syncs = run.get("syncs")
        if syncs:
            found = {backend: sum(site["count"] for site in sites) for backend, sites in syncs.items()}
            lines.append(
                f"- Host-device synchronisations inside a training step ({variant_label(run)}): "
                + ", ".join(f"{count} with {backend}" for backend, count in found.items())
                + (" (**none**)." if not any(found.values()) else " (sites in the end-to-end section).")
            )
    lines.append("")
    return lines


def variant_label(run: dict[str, Any]) -> str:
    """``recipe`` plus the variant's own overrides, for the page."""
    extra = run.get("variant") or []
    return f"`{run['recipe']}`" + (f" with `{shlex.join(extra)}`" if extra else " as shipped")


def e2e_section(e2e: dict[str, Any]) -> list[str]:
    lines = [
        f"## End to end: {variant_label(e2e)}",
        "",
        f"`{e2e['recipe']}` trained through the `mmzoo fit` path (`build_trainer` + `trainer.fit`) with",
        f"`model.attention=sdpa` and `model.attention=fused`, {e2e['rounds']} runs of each, alternated.",
        f"Overrides for both: `{shlex.join(e2e['overrides'])}`.",
        "*inside*: `on_train_batch_start` to `on_train_batch_end` (forward, backward, optimizer step);",
        "*step*: one step's start to the next one's (adds data loading and Lightning's bookkeeping);",
        "*steps/s*: 1000 / step median; *peak MiB*: the most memory allocated on the GPU during a run",
        "(`torch.cuda.max_memory_allocated`; model, optimizer state, activations, batch).",
        "",
        "| attention | inside median ms | step median ms | steps/s | peak MiB | steps |",
        "|---|---|---|---|---|---|",
    ]
    for backend in ("sdpa", "fused"):
        inside, step = e2e["inside"][backend], e2e["step"][backend]
        step_ms = statistics.median(step) if step else None
        peaks = e2e.get("peak_mib", {}).get(backend) or []
        lines.append(
            f"| {backend} | {fmt(statistics.median(inside) if inside else None, 2)} | {fmt(step_ms, 2)} |"
            f" {fmt(1000 / step_ms if step_ms else None, 1)} | {fmt(max(peaks) if peaks else None, 0)} | {len(inside)} |"
        )
    for backend, failure in e2e.get("failures", {}).items():
        lines.append(f"\n`{backend}` failed: {failure}")
    syncs = e2e.get("syncs")
    if syncs is not None:
        lines += [
            "",
            "Host-device synchronisations: a short run of each backend with",
            '`torch.cuda.set_sync_debug_mode("warn")` from `on_train_batch_start` to `on_train_batch_end` (forward,',
            "backward and optimizer step) after two warm-up steps; each synchronising call is traced to the first",
            "frame outside torch and Lightning.",
            "",
        ]
        for backend, sites in syncs.items():
            if not sites:
                lines.append(f"- {backend}: none")
            for site in sites:
                lines.append(f"- {backend}: `{site['site']}` via `{site['via']}`, {site['count']} times")
    lines.append("")
    return lines


def write_page(
    path: Path, rows: list[Row], device: torch.device, command: str, flex: str, e2e: list[dict[str, Any]], args: Any
) -> None:
    import triton

    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, torch {torch.__version__}"
        timing = "medians of CUDA-event timings (`triton.testing.do_bench`)"
    else:
        where = f"{describe_cpu()} (a CPU smoke run, not performance figures)"
        timing = f"medians of {args.repeats} wall-clock timings"
    flex_label = {"compiled": "`torch.compile(flex_attention)`", "eager": "eager `flex_attention`", "off": "not run"}
    lines = [
        "# Performance: fused masked attention",
        "",
        "Made by `benchmarks/attention.py` (re-run it to refresh this page).",
        f"Device: {where}, triton {triton.__version__}. Date: {time.strftime('%Y-%m-%d')}.",
        f"Command: `{command}`.",
        "",
        f"Self-attention in bf16, `B x T` = {args.tokens_used} tokens,"
        f" {', '.join(sorted({f'{r.case.heads} heads of dim {r.case.head_dim}' for r in rows}))}.",
        "Backends: **kernel** = `mmzoo.ops.fused_attention` with `key_lengths = query_lengths`;",
        "**SDPA** = `torch.nn.functional.scaled_dot_product_attention` with the boolean key mask",
        f"`(B, 1, 1, T)` (PyTorch picks its backend); **Flex** = {flex_label[flex]} with a BlockMask that",
        "masks padded keys and queries (its creation time is the *BlockMask ms* column, outside the",
        "timings). At 0 % padding all three run without a mask.",
        "",
        "Padding: row `b` keeps its first `round(T (1 - 2p (b + 1/2) / B))` tokens, so the padded",
        "fraction averages `p` (the actual fraction in parentheses). TFLOP/s count useful work only:",
        "forward `4 H D sum_b len_b^2`, forward+backward 3.5x that (backward = 2.5x forward, the",
        "FlashAttention papers' convention); multiply by *dense/useful* for the dense-equivalent figure",
        f"`4 B H D T^2` that unmasked benchmarks report. Times are {timing}.",
        "Peak MiB (CUDA only): memory allocated at the peak of one forward+backward above the inputs",
        "(q, k, v, the output gradient and the mask), including the q/k/v gradients.",
        "Errors: against an fp32 reference (SDPA math backend on each row's real tokens), at real query",
        "rows only.",
        "",
    ]
    for head_dim in sorted({row.case.head_dim for row in rows}):
        chosen = [row for row in rows if row.case.head_dim == head_dim]
        lines += [f"## Head dim {head_dim}, {chosen[0].case.heads} heads", "", *table(chosen), ""]
    missing = notes(rows)
    if missing:
        lines += ["Not measured:", "", *missing, ""]
    lines += targets(rows, device, e2e, args.matmul_tflops)
    lines += [
        "FlashAttention-2 reference: forward TFLOP/s on H100 80GB SXM5, FP16, no mask, 16k tokens, hidden",
        "2048, from Figure 5 of Shah et al., *FlashAttention-3* (arXiv:2407.08608), by sequence length:",
        "",
        *(
            f"- D {d}: " + ", ".join(f"{t}: {v:.0f}" for t, v in by_len.items())
            for d, by_len in FA2_H100_FORWARD.items()
        ),
        "",
        "Where the `flash_attn` package is installed, FA2 is also timed on this GPU (*FA2 here* above).",
        "",
    ]
    for run in e2e:
        lines += e2e_section(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(splice_results(path, lines), encoding="utf-8")


RESULTS_START, RESULTS_END = markers("benchmarks/attention.py")


def splice_results(path: Path, lines: list[str]) -> str:
    """The page to write: the generated lines between the result markers of an existing page (whose
    hand-written text around them is kept; the generated page's own title is left out), or the
    generated page alone."""
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    spliced = splice(existing, "benchmarks/attention.py", lines[1:])
    return spliced if spliced is not None else "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def save_results(path: Path, rows: list[Row], e2e: list[dict[str, Any]], device: str) -> None:
    data = {
        "device": device,
        "rows": [
            {
                "case": asdict(row.case),
                "results": {name: asdict(measured) for name, measured in row.results.items()},
                "block_mask_ms": row.block_mask_ms,
                "fa2_forward_ms": row.fa2_forward_ms,
            }
            for row in rows
        ],
        "e2e": e2e,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_results(path: Path | None, device: str) -> tuple[dict[Case, Row], list[dict[str, Any]]]:
    """Rows (and the end-to-end figures) an earlier run on the same device saved with ``--results``."""
    if path is None or not path.is_file():
        return {}, []
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("device") != device:
        print(f"{path} holds figures from {data.get('device')}, not {device}: not reused", flush=True)
        return {}, []
    rows = {}
    for item in data["rows"]:
        case = Case(**item["case"])
        results = {name: Measured(**values) for name, values in item["results"].items()}
        rows[case] = Row(case, results, item["block_mask_ms"], item["fa2_forward_ms"])
    return rows, data.get("e2e") or []


def grid(args: Any, device: torch.device) -> list[Case]:
    if args.quick:
        base = dict(QUICK_CUDA if device.type == "cuda" else QUICK_CPU)
    else:
        base = dict(FULL)
    head_dims = tuple(args.head_dims or base["head_dims"])
    seq_lens = tuple(args.seq_lens or base["seq_lens"])
    paddings = tuple(args.paddings if args.paddings is not None else base["paddings"])
    tokens = args.tokens or base.get("tokens", TOKENS)
    cases = []
    for head_dim in head_dims:
        heads = args.heads or base.get("heads") or HIDDEN // head_dim
        for seq_len in seq_lens:
            for padding in paddings:
                cases.append(Case(head_dim, heads, seq_len, max(1, tokens // seq_len), padding))
    return cases


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="a small grid (a tiny one on CPU)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--head-dims", type=int, nargs="+", help="override the grid's head dims")
    parser.add_argument("--seq-lens", type=int, nargs="+", help="override the grid's sequence lengths")
    parser.add_argument("--paddings", type=float, nargs="+", help="override the grid's padded fractions")
    parser.add_argument("--tokens", type=int, help=f"B x T (default {TOKENS})")
    parser.add_argument("--heads", type=int, help=f"heads (default {HIDDEN} / head dim)")
    parser.add_argument(
        "--flex",
        choices=("compiled", "eager", "off"),
        help="FlexAttention mode (default: compiled on CUDA, eager on CPU)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure off CUDA")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="backends to run")
    parser.add_argument(
        "--results",
        type=Path,
        help="JSON file of measured rows: saved after each case, and rows already in it are not measured again",
    )
    parser.add_argument("--end-to-end", action="store_true", help="also time a fusion recipe with sdpa and fused")
    parser.add_argument(
        "--no-grid", action="store_true", help="measure no grid rows (the page shows those in --results)"
    )
    parser.add_argument("--e2e-recipe", type=Path, default=E2E_RECIPE)
    parser.add_argument(
        "--e2e-override", action="append", default=[], metavar="KEY=VALUE", help="an override for every variant"
    )
    parser.add_argument(
        "--e2e-variant",
        action="append",
        metavar="'KEY=VALUE;KEY=VALUE'",
        help="a variant of the recipe to time end to end, its overrides separated by ';' (repeatable;"
        " default: the recipe as shipped)",
    )
    parser.add_argument("--e2e-steps", type=int, default=40)
    parser.add_argument("--e2e-warmup", type=int, default=10)
    parser.add_argument("--e2e-rounds", type=int, default=2)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type != "cuda" and args.output.resolve() == DEFAULT_OUTPUT.resolve():
        parser.error(f"{DEFAULT_OUTPUT.relative_to(REPO)} holds GPU figures only; pass --output for a CPU run")
    flex = args.flex or ("compiled" if device.type == "cuda" else "eager")
    if device.type == "cuda":
        from torch._dynamo import config as dynamo_config

        # One compiled FlexAttention per shape and mask function: more than dynamo's default limit.
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo_config, name):
                setattr(dynamo_config, name, 256)

    args.matmul_tflops = matmul_tflops(device)
    rows: list[Row] = []
    cases = grid(args, device)
    args.tokens_used = cases[0].batch * cases[0].seq_len if cases else 0
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    done, e2e = load_results(args.results, label)
    words = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python benchmarks/attention.py", *words])
    for case in cases:
        if case in done:
            rows.append(done[case])
            continue
        if args.no_grid:
            continue
        start = time.perf_counter()
        row = run_case(case, device, torch.bfloat16, flex, args.repeats, tuple(args.backends))
        rows.append(row)
        k, s = row.results["kernel"], row.results["sdpa"]
        print(
            f"D {case.head_dim} T {case.seq_len} B {case.batch} pad {case.padding:.2f}: fwd ms kernel"
            f" {fmt(k.forward_ms, 3)} sdpa {fmt(s.forward_ms, 3)} flex {fmt(row.results['flex'].forward_ms, 3)}"
            f" ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        # Saved after every case: a run cut short keeps what it measured (re-run to go on).
        if args.results is not None:
            save_results(args.results, rows, e2e, label)
        write_page(args.output, rows, device, command, flex, e2e, args)
    if args.end_to_end:
        variants = [[o.strip() for o in v.split(";") if o.strip()] for v in (args.e2e_variant or [""])]
        for variant in variants:
            if any(run.get("variant") == variant for run in e2e):
                continue  # measured by an earlier run with these --results
            run = end_to_end(
                args.e2e_recipe.resolve(),
                device,
                [*args.e2e_override, *variant],
                args.e2e_steps,
                args.e2e_warmup,
                args.e2e_rounds,
            )
            e2e.append({**run, "variant": variant})
            if args.results is not None:
                save_results(args.results, rows, e2e, label)
            write_page(args.output, rows, device, command, flex, e2e, args)
    write_page(args.output, rows, device, command, flex, e2e, args)
    print(f"wrote {args.output}")
    return args.output


if __name__ == "__main__":
    main()
