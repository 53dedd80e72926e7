"""Tune the fused attention kernels' launch configurations on this GPU with ``triton.autotune``.

Writes ``mmzoo/ops/tuned/attention_sm_<major><minor>.json``, which the kernels then use by default on
every GPU of that architecture (``mmzoo/ops/_attention_configs.py`` says how a call picks its entry)::

    python benchmarks/attention_tune.py --jobs 16            # on the GPU; all head dims, all buckets
    TRITON_INTERPRET=1 python benchmarks/attention_tune.py --device cpu --head-dims 16 --buckets 32 \
        --tokens 64 --output /tmp/tuned.json                 # a smoke run of the code path on the CPU
    python benchmarks/attention_tune.py --render mmzoo/ops/tuned/attention_sm_90.json   # its table into the docs

What is tuned: each of the ``forward``, ``dkdv`` and ``dq`` kernels, for every head dim, with and
without segment ids, at each sequence-length bucket, in bfloat16 (float16 uses the same entries). The
inputs follow ``benchmarks/attention.py``: ``B x T`` = 16k tokens, ``H x D`` = 2048, no padding (every
block is computed, so the timings are the per-block cost that padding then scales down). Without
segment ids the kernels get ``key_lengths`` and ``query_lengths``; with them, all-shared segment ids as
well, which is what ``mmzoo.ops.attention`` passes for a padding mask.

The search space is the product of tile sizes, warps and pipeline stages below, pruned before any
compilation (:func:`candidates`) by estimates of shared memory and of fp32 accumulator registers per
thread, and by the rule that a tile of resident rows uses a whole number of 64-row warpgroups. The
hand-picked default is always among the candidates, so a tuned entry is never slower than it was on
the tuning GPU; each entry records its own and the default's median time.

``--jobs N`` compiles every candidate in N processes first (into Triton's on-disk cache), so the
autotuner only loads and times them; without it compilation dominates. ``--budget-s`` stops tuning
new keys after that many seconds (keys not reached keep their defaults); the file is rewritten after
every key, so a run that is cut off keeps what it finished.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _page  # noqa: E402 - benchmarks/ is on sys.path when run as a script
import torch

REPO = Path(__file__).resolve().parents[1]
HIDDEN = 2048
TOKENS = 16 * 1024
HEAD_DIMS = (64, 128, 32, 16)  # the targets' head dims first: a budget that runs out leaves the others

# The space before pruning.
QUERY_TILES = (64, 128)  # rows kept resident by the forward and dQ kernels
KEY_TILES = (32, 64, 128)  # rows streamed by them
DKDV_QUERY_TILES = (16, 32, 64)  # query rows streamed by the dK/dV kernel
DKDV_KEY_TILES = (64, 128)  # key rows kept resident by it
WARPS = (4, 8)
#: Pruning limits: estimated shared memory per program, fp32 accumulator registers per thread.
SHARED_LIMIT = 160 * 1024
REGISTER_LIMIT = 160


def _stages(kernel: str, head_dim: int) -> tuple[int, ...]:
    """Pipeline depths worth trying: deeper for the forward pass's small tiles, shallower otherwise."""
    if kernel == "forward":
        return (3, 4) if head_dim <= 64 else (2, 3)
    return (2, 3)


def _narrow(kernel: str, bm: int, bn: int, head_dim: int) -> bool:
    """Streamed tiles too thin to pay for their loop overhead below head dim 128."""
    if head_dim >= 128:
        return False
    return bn < 64 if kernel != "dkdv" else bm < 32


def _shared_bytes(kernel: str, bm: int, bn: int, stages: int, head_dim: int) -> int:
    """Tiles a program keeps in shared memory (16-bit): the resident tile(s) once, the streamed ones per stage."""
    if kernel == "forward":
        return 2 * head_dim * (bm + stages * 2 * bn)  # Q resident; K and V streamed
    if kernel == "dq":
        return 2 * head_dim * (2 * bm + stages * 2 * bn)  # Q, dO resident; K and V streamed
    return 2 * head_dim * (2 * bn + stages * 2 * bm)  # K, V resident; Q and dO streamed


def _accumulator_registers(kernel: str, bm: int, bn: int, warps: int, head_dim: int) -> float:
    """fp32 values per thread of the accumulators and the score tiles that live across a step."""
    threads = 32 * warps
    if kernel == "forward":
        return (bm * head_dim + bm * bn) / threads  # acc, S/P
    if kernel == "dq":
        return (bm * head_dim + 2 * bm * bn) / threads  # dQ, P and dP
    return (2 * bn * head_dim + 2 * bn * bm) / threads  # dK, dV, P^T and dP^T


def candidates(kernel: str, head_dim: int) -> list[Any]:
    """The pruned search space of one kernel and head dim, with the hand-picked default first."""
    from mmzoo.ops._attention_configs import LaunchConfig, default_config

    if kernel == "dkdv":
        tiles = itertools.product(DKDV_QUERY_TILES, DKDV_KEY_TILES)
        resident = lambda bm, bn: bn  # noqa: E731
    else:
        tiles = itertools.product(QUERY_TILES, KEY_TILES)
        resident = lambda bm, bn: bm  # noqa: E731
    found = []
    for (bm, bn), warps, stages in itertools.product(tiles, WARPS, _stages(kernel, head_dim)):
        if resident(bm, bn) // warps < 16 or (warps == 8 and resident(bm, bn) < 128):
            continue  # each warpgroup (4 warps) takes whole 64-row slices of the resident tile
        if _narrow(kernel, bm, bn, head_dim):
            continue
        if _shared_bytes(kernel, bm, bn, stages, head_dim) > SHARED_LIMIT:
            continue
        if _accumulator_registers(kernel, bm, bn, warps, head_dim) > REGISTER_LIMIT:
            continue
        found.append(LaunchConfig(bm, bn, warps, stages))
    default = default_config(kernel, head_dim, torch.bfloat16, skip_blocks=False)
    default_skip = default_config(kernel, head_dim, torch.bfloat16, skip_blocks=True)
    ordered = [default, *([default_skip] if default_skip != default else [])]
    return ordered + [config for config in found if config not in ordered]


# -- inputs ---------------------------------------------------------------------------------------


def problem(head_dim: int, seq_len: int, tokens: int, heads: int | None, segments: bool, device: torch.device) -> dict:
    """Self-attention inputs of the tuning shapes, with a gradient for the output."""
    heads = heads or max(1, HIDDEN // head_dim)
    batch = max(1, tokens // seq_len)
    generator = torch.Generator().manual_seed(seq_len + head_dim)
    shape = (batch, heads, seq_len, head_dim)
    q, k, v, grad = (torch.randn(shape, generator=generator).to(device, torch.bfloat16) for _ in range(4))
    lengths = torch.full((batch,), seq_len, dtype=torch.int32, device=device)
    seg = torch.zeros(batch, seq_len, dtype=torch.int32, device=device) if segments else None
    return dict(q=q, k=k, v=v, grad=grad, lengths=lengths, seg=seg)


def launches(p: dict) -> dict[str, Any]:
    """The forward, dK/dV and dQ launches of a problem (``delta`` already computed for the backward)."""
    from mmzoo.ops._triton_attention import backward_launches, forward_launch

    scale = p["q"].shape[-1] ** -0.5
    mask = (p["lengths"], p["lengths"], p["seg"], p["seg"])
    out, lse, forward = forward_launch(p["q"], p["k"], p["v"], *mask, scale)
    forward.run()
    _, _, _, (delta, dkdv, dq) = backward_launches(
        p["grad"], None, p["q"], p["k"], p["v"], out, lse, *mask, scale
    )
    delta.run()
    return {"forward": forward, "dkdv": dkdv, "dq": dq}


# -- compiling ahead, in parallel -----------------------------------------------------------------


#: Inputs the compile workers run each configuration on: (sequence length, tokens, heads). Small, with
#: every integer argument divisible by 16 like the tuning shapes': Triton specialises on that, and the
#: cache entry must be the one the autotuner then asks for.
COMPILE_SHAPE = (256, 512, 16)


def _compile_one(task: tuple[str, int, bool, dict, str, tuple[int, int, int | None]]) -> tuple[str, float]:
    """Worker: compile (and run once, on small inputs) one configuration."""
    kernel, head_dim, segments, config, device, (seq_len, tokens, heads) = task
    from mmzoo.ops._attention_configs import LaunchConfig

    start = time.perf_counter()
    try:
        p = problem(head_dim, seq_len, tokens, heads, segments, torch.device(device))
        launches(p)[kernel].run(LaunchConfig(**config))
        if device == "cuda":
            torch.cuda.synchronize()
        status = "ok"
    except Exception as exc:  # out of resources and the like: the autotuner will skip it too
        status = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    return status, time.perf_counter() - start


def compile_pool(jobs: int) -> Any:
    """``jobs`` spawned worker processes for :func:`precompile` (``None`` for ``jobs <= 1``)."""
    if jobs <= 1:
        return None
    return multiprocessing.get_context("spawn").Pool(jobs)


def precompile(tasks: list[tuple], pool: Any) -> list[tuple[str, float]]:
    """Compile ``tasks`` in ``pool`` (Triton's on-disk cache is shared), or here without one."""
    if pool is None:
        return [_compile_one(task) for task in tasks]
    return pool.map(_compile_one, tasks, chunksize=1)


# -- tuning ---------------------------------------------------------------------------------------


def _wall_bench(fn: Any, quantiles: Any = None, **_: Any) -> list[float]:
    """A wall-clock stand-in for ``triton.testing.do_bench`` off CUDA (the CPU smoke run)."""
    fn()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    return [median, min(times), max(times)]


def tune_one(launch: Any, configs: list[Any], device: torch.device) -> tuple[Any, dict[Any, float]]:
    """``triton.autotune`` over ``configs`` on one launch; the winner and each config's median ms."""
    import triton

    if device.type == "cuda":
        from triton.testing import do_bench

        bench = functools.partial(do_bench, warmup=10, rep=40)
    else:
        bench = _wall_bench
    as_triton = {
        triton.Config(
            {"BLOCK_M": c.block_m, "BLOCK_N": c.block_n}, num_warps=c.num_warps, num_stages=c.num_stages
        ): c
        for c in configs
    }
    tuner = triton.autotune(configs=list(as_triton), key=["Tq", "Tk"], do_bench=bench)(launch.kernel)
    tuner[launch.grid](*launch.args, **launch.constexprs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    timings = getattr(tuner, "configs_timings", None) or {}
    times = {as_triton[config]: float(value[0] if isinstance(value, list | tuple) else value) for config, value in timings.items()}
    return as_triton[tuner.best_config], times


def write(path: Path, header: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**header, "entries": entries}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def render(table: Path, page: Path) -> None:
    """Write a tuned table's winners, with their times against the defaults', into ``page``."""
    data = json.loads(table.read_text(encoding="utf-8"))
    lines = [
        f"Made by `benchmarks/attention_tune.py` on {data['device']} ({data['arch']}), torch {data['torch']},"
        f" triton {data['triton']}, {data['date']}: `{table.name}`, tuned in {data['dtype']} at"
        f" {data['tokens']} tokens per batch and hidden size {data['hidden']}"
        + ("." if data.get("complete") else " (the run was cut off: keys it did not reach keep their defaults)."),
        "",
        "| kernel | D | segments | bucket | tuned | ms | default | ms | gain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    from mmzoo.ops._attention_configs import LaunchConfig

    for e in sorted(data["entries"], key=lambda e: (e["head_dim"], e["segments"], e["kernel"], e["bucket"])):
        best, default = LaunchConfig(**e["config"]), LaunchConfig(**e["default"])
        gain = f"{e['default_ms'] / e['ms']:.2f}x" if e["ms"] and e["default_ms"] else "n/a"
        lines.append(
            f"| {e['kernel']} | {e['head_dim']} | {'yes' if e['segments'] else 'no'} | {e['bucket']} | {best.label()} |"
            f" {fmt_ms(e['ms'])} | {default.label()} | {fmt_ms(e['default_ms'])} | {gain} |"
        )
    _page.write_section(page, "benchmarks/attention_tune.py", lines)


def main(argv: list[str] | None = None) -> Path:
    from mmzoo.ops._attention_configs import KERNELS, SEQ_BUCKETS, tuned_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--head-dims", type=int, nargs="+", default=list(HEAD_DIMS))
    parser.add_argument("--buckets", type=int, nargs="+", default=list(SEQ_BUCKETS), help="sequence lengths tuned")
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--segments", choices=("both", "on", "off"), default="both")
    parser.add_argument("--tokens", type=int, default=TOKENS, help=f"B x T (default {TOKENS})")
    parser.add_argument("--heads", type=int, help=f"heads (default {HIDDEN} / head dim)")
    parser.add_argument("--jobs", type=int, default=1, help="processes that compile each head dim's candidates first")
    parser.add_argument("--budget-s", type=float, default=None, help="start no new head dim after this long")
    parser.add_argument("--max-candidates", type=int, default=None, help="keep the first N candidates per kernel")
    parser.add_argument("--output", type=Path, help="default: mmzoo/ops/tuned/attention_<arch>.json")
    parser.add_argument(
        "--update", action="store_true", help="keep the output file's entries for keys this run does not tune"
    )
    parser.add_argument("--render", type=Path, metavar="TABLE", help="tune nothing: put this table into --page")
    parser.add_argument("--page", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args(argv)
    if args.render is not None:
        render(args.render, args.page)
        return args.page
    device = torch.device(args.device)
    start = time.perf_counter()

    import triton

    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        arch, name = f"sm_{major}{minor}", torch.cuda.get_device_name(device)
    else:
        arch, name = "cpu-interpreter", "cpu"
    output = args.output or tuned_path(arch)
    segment_settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.segments]
    header = {
        "arch": arch,
        "device": name,
        "dtype": "bfloat16",
        "triton": triton.__version__,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "tokens": args.tokens,
        "hidden": HIDDEN,
        "command": " ".join(["python benchmarks/attention_tune.py", *(argv if argv is not None else sys.argv[1:])]),
        "complete": False,
    }
    entries: list[dict[str, Any]] = []
    if args.update and output.is_file():
        tuned_here = {(d, seg, bucket) for d in args.head_dims for seg in segment_settings for bucket in args.buckets}
        entries = [
            entry
            for entry in json.loads(output.read_text(encoding="utf-8"))["entries"]
            if (entry["head_dim"], entry["segments"], entry["bucket"]) not in tuned_here
            or entry["kernel"] not in args.kernels
        ]
    pool = compile_pool(args.jobs)
    try:
        for head_dim in args.head_dims:
            if args.budget_s is not None and time.perf_counter() - start > args.budget_s:
                print(f"budget of {args.budget_s:.0f} s spent: head dim {head_dim} and later keep their defaults")
                return output
            space = {kernel: candidates(kernel, head_dim)[: args.max_candidates] for kernel in args.kernels}
            if pool is not None:
                # Off CUDA (the interpreter's smoke run) there is nothing to cache: run the tuning shape.
                shape = COMPILE_SHAPE if device.type == "cuda" else (args.buckets[0], args.tokens, args.heads)
                tasks = [
                    (kernel, head_dim, segments, asdict(config), device.type, shape)
                    for kernel, configs in space.items()
                    for segments in segment_settings
                    for config in configs
                ]
                began = time.perf_counter()
                failed = [status for status in precompile(tasks, pool) if status[0] != "ok"]
                print(
                    f"d{head_dim}: compiled {len(tasks)} configurations in {time.perf_counter() - began:.0f} s"
                    f" ({len(failed)} could not run; the autotuner skips them)",
                    flush=True,
                )
            for segments in segment_settings:
                for bucket in args.buckets:
                    entries += tune_key(head_dim, segments, bucket, space, args, device)
                    write(output, header, entries)
        header["complete"] = True
        write(output, header, entries)
    finally:
        if pool is not None:
            pool.close()
    print(f"wrote {output} in {time.perf_counter() - start:.0f} s", flush=True)
    return output


def tune_key(
    head_dim: int, segments: bool, bucket: int, space: dict[str, list[Any]], args: Any, device: torch.device
) -> list[dict[str, Any]]:
    """Tune every kernel at one (head dim, segments, bucket); one table entry per kernel."""
    entries = []
    p = problem(head_dim, bucket, args.tokens, args.heads, segments, device)
    for kernel, launch in launches(p).items():
        if kernel not in space:
            continue
        best, times = tune_one(launch, space[kernel], device)
        default = _default(kernel, head_dim, skip_blocks=segments)  # bf16 skips blocks iff it has segments
        entries.append(
            {
                "kernel": kernel,
                "head_dim": head_dim,
                "segments": segments,
                "bucket": bucket,
                "config": asdict(best),
                "ms": times.get(best),
                "default": asdict(default),
                "default_ms": times.get(default),
                "timings": {config.label(): ms for config, ms in sorted(times.items(), key=lambda kv: kv[1])},
            }
        )
        gain = (
            f" ({times[default] / times[best]:.2f}x faster than the default {default.label()})"
            if times.get(best) and times.get(default)
            else ""
        )
        print(
            f"d{head_dim} seg={int(segments)} T {bucket} {kernel}: {best.label()} {fmt_ms(times.get(best))} ms{gain}",
            flush=True,
        )
    return entries


def _default(kernel: str, head_dim: int, skip_blocks: bool) -> Any:
    from mmzoo.ops._attention_configs import default_config

    return default_config(kernel, head_dim, torch.bfloat16, skip_blocks)


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
