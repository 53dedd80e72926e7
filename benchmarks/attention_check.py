"""Correctness of the fused attention kernel on this device: forward and backward against float64.

For every dtype (bfloat16, float16, float32), head dim (16, 32, 64, 128) and mask kind, the kernel's
output and its q/k/v gradients are compared with a float64 reference of the same masked attention,
and SDPA in the same dtype (given the equivalent boolean mask) is scored against the same reference,
so that each error can be read as a multiple of SDPA's::

    python benchmarks/attention_check.py --jobs 16 --output /tmp/check.jsonl         # on the GPU
    TRITON_INTERPRET=1 python benchmarks/attention_check.py --device cpu --quick    # CPU smoke run
    python benchmarks/attention_check.py --render /tmp/check.jsonl               # its table into the docs

bfloat16 is also checked at 1500 and 2500 tokens (head dims 64 and 128), where the tuned tables'
longer length buckets apply. Mask kinds: ``none``; ``lengths`` (ragged key and query lengths, one row with no keys at all);
``segments`` (packed segments, shared tokens, padding ids, plus key lengths, as ``mmzoo.ops.attention``
passes them); ``cross`` (``Tq != Tk``, neither a multiple of any tile, with lengths and segments).
Inputs are drawn afresh for each case, and the memory the outputs will be allocated from is filled
with NaN first, so an element the kernel never writes shows up as a non-finite output.

A case passes when every output is finite, rows and keys that must be zero are exactly zero, and the
relative error ``||x - ref|| / ||ref||`` of the output and of each gradient is within the dtype's
bound (float32 1e-4: it runs 3-pass TF32 products; float16 5e-3; bfloat16 3e-2). The exit status is
1 when a case fails. ``--jobs N`` spreads the cases over N processes (they compile in parallel).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import _page  # noqa: E402 - benchmarks/ is on sys.path when run as a script
import torch
import torch.nn.functional as F

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
BOUNDS = {"bfloat16": 3e-2, "float16": 5e-3, "float32": 1e-4}
MASKS = ("none", "lengths", "segments", "cross")
HEAD_DIMS = (16, 32, 64, 128)


@dataclass(frozen=True)
class Case:
    dtype: str
    head_dim: int
    mask: str
    batch: int = 3
    heads: int = 4
    seq_len: int = 300  # not a multiple of any tile
    cross_len: int = 517  # the key length of the ``cross`` case

    @property
    def tq(self) -> int:
        return self.seq_len

    @property
    def tk(self) -> int:
        return self.cross_len if self.mask == "cross" else self.seq_len


def mask_inputs(case: Case, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor | None]:
    """The kernel's mask arguments for a case."""
    b, tq, tk = case.batch, case.tq, case.tk
    found: dict[str, torch.Tensor | None] = dict.fromkeys(
        ("key_lengths", "query_lengths", "query_segments", "key_segments")
    )
    if case.mask in ("lengths", "cross"):
        # Ragged, not multiples of a tile; row 2 has no keys at all (its queries output zeros).
        found["key_lengths"] = torch.tensor([tk, (tk * 3) // 5 + 1, 0][:b], dtype=torch.int32)
        found["query_lengths"] = torch.tensor([(tq * 2) // 3 + 5, tq, tq // 2][:b], dtype=torch.int32)
    if case.mask in ("segments", "cross"):
        q_seg = _packed(b, tq, generator)
        k_seg = _packed(b, tk, generator)
        found["query_segments"], found["key_segments"] = q_seg, k_seg
        if found["key_lengths"] is None:
            real = k_seg != -1
            positions = torch.arange(1, tk + 1, dtype=torch.int32)
            found["key_lengths"] = (real.to(torch.int32) * positions).amax(-1).to(torch.int32)
    return {name: None if t is None else t.to(device) for name, t in found.items()}


def _packed(batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """Packed segments 1, 2, 3 of random lengths, a few shared (0) tokens, a padded (-1) tail."""
    rows = []
    for _ in range(batch):
        cuts = sorted(torch.randint(1, length, (3,), generator=generator).tolist())
        row = torch.full((length,), -1, dtype=torch.int32)
        row[: cuts[0]] = 1
        row[cuts[0] : cuts[1]] = 2
        row[cuts[1] : cuts[2]] = 3
        shared = torch.randint(0, max(1, cuts[2]), (4,), generator=generator)
        row[shared] = 0
        rows.append(row)
    return torch.stack(rows)


def allowed_mask(case: Case, masks: dict[str, torch.Tensor | None], device: torch.device) -> torch.Tensor:
    """Boolean ``(B, Tq, Tk)`` on ``device``: may query i attend key j (the documented rule, written densely)."""
    b, tq, tk = case.batch, case.tq, case.tk
    allowed = torch.ones(b, tq, tk, dtype=torch.bool, device=device)
    if masks["key_lengths"] is not None:
        allowed &= torch.arange(tk, device=device)[None, None, :] < masks["key_lengths"][:, None, None]
    if masks["query_lengths"] is not None:
        allowed &= torch.arange(tq, device=device)[None, :, None] < masks["query_lengths"][:, None, None]
    if masks["query_segments"] is not None:
        qs, ks = masks["query_segments"][:, :, None], masks["key_segments"][:, None, :]
        same = (qs == ks) | (qs == 0) | (ks == 0)
        allowed &= same & (qs != -1) & (ks != -1)
    return allowed


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Explicit masked softmax attention; rows without an allowed key are exactly zero."""
    allowed = allowed[:, None]
    has_keys = allowed.any(-1, keepdim=True)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has_keys, 0.0)
    return (torch.softmax(scores, dim=-1) * allowed) @ v


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """SDPA with the boolean mask; rows without keys attend everywhere and are zeroed (as mmzoo does)."""
    has_keys = allowed.any(-1, keepdim=True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=(allowed | ~has_keys)[:, None])
    return out * has_keys[:, None].to(out.dtype)


def poison(device: torch.device, numel: int) -> None:
    """Leave NaN in the allocator's free blocks, so ``torch.empty`` outputs start as NaN."""
    if device.type == "cuda":
        blocks = [torch.full((numel,), float("nan"), device=device) for _ in range(8)]
        del blocks


def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.double(), ref.double()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-30))


def run_case(case: Case, device: torch.device) -> dict[str, Any]:
    from mmzoo.ops.fused_attention import fused_attention

    dtype = DTYPES[case.dtype]
    generator = torch.Generator().manual_seed(zlib.crc32(repr(case).encode()))
    masks = mask_inputs(case, device, generator)
    allowed = allowed_mask(case, masks, device)
    shapes = [(case.batch, case.heads, case.tq, case.head_dim)] + [(case.batch, case.heads, case.tk, case.head_dim)] * 2
    base = [torch.randn(shape, generator=generator).to(device) for shape in shapes]
    grad_out = torch.randn(shapes[0], generator=generator).to(device)

    leaves = [t.to(dtype).detach().clone().requires_grad_() for t in base]
    poison(device, 4 * sum(t.numel() for t in base))
    out = fused_attention(*leaves, **masks)
    out.backward(grad_out.to(dtype))
    kernel = [out.detach(), *(t.grad for t in leaves)]

    ref_leaves = [t.to(dtype).double().detach().requires_grad_() for t in base]  # same rounded inputs
    ref_out = masked_attention(*ref_leaves, allowed)
    ref_out.backward(grad_out.to(dtype).double())
    reference = [ref_out.detach(), *(t.grad for t in ref_leaves)]

    sdpa_leaves = [t.to(dtype).detach().clone().requires_grad_() for t in base]
    s_out = sdpa(*sdpa_leaves, allowed)
    s_out.backward(grad_out.to(dtype))
    sdpa_results = [s_out.detach(), *(t.grad for t in sdpa_leaves)]

    names = ("out", "dq", "dk", "dv")
    errors = {name: rel(x, r) for name, x, r in zip(names, kernel, reference)}
    sdpa_errors = {name: rel(x, r) for name, x, r in zip(names, sdpa_results, reference)}
    max_abs = {name: float((x.double() - r).abs().max()) for name, x, r in zip(names, kernel, reference)}
    finite = all(bool(torch.isfinite(x).all()) for x in kernel)
    no_query = ~allowed.any(-1)  # (B, Tq): rows that must output zero
    no_key = ~allowed.any(-2)  # (B, Tk): keys that must get zero gradient
    zeros = (
        bool((kernel[0].transpose(1, 2)[no_query] == 0).all())
        and bool((kernel[1].transpose(1, 2)[no_query] == 0).all())
        and bool((kernel[2].transpose(1, 2)[no_key] == 0).all())
        and bool((kernel[3].transpose(1, 2)[no_key] == 0).all())
    )
    within = all(error <= BOUNDS[case.dtype] for error in errors.values())
    return {
        "case": asdict(case),
        "passed": finite and zeros and within,
        "finite": finite,
        "zeros_exact": zeros,
        "rel_error": errors,
        "sdpa_rel_error": sdpa_errors,
        "ratio_to_sdpa": {name: errors[name] / sdpa_errors[name] if sdpa_errors[name] > 0 else None for name in names},
        "max_abs_error": max_abs,
    }


def _worker(task: tuple[dict[str, Any], str]) -> dict[str, Any]:
    values, device = task
    case = Case(**values)
    start = time.perf_counter()
    try:
        result = run_case(case, torch.device(device))
    except Exception as exc:  # a compile or launch failure is a failed case, reported with its reason
        message = str(exc).splitlines()[0][:300] if str(exc) else ""
        result = {"case": values, "passed": False, "error": f"{type(exc).__name__}: {message}"}
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


#: Longer sequences, so that the tuned tables' larger length buckets (over 512 and over 2048) are checked
#: too: (sequence length) for bfloat16, the benchmark's head dims, lengths and segments.
LONG = (1500, 2500)


def cases(dtypes: list[str], head_dims: list[int], masks: list[str], quick: bool) -> list[Case]:
    size = dict(batch=3, heads=1, seq_len=37, cross_len=53) if quick else {}
    found = [Case(d, h, m, **size) for d in dtypes for h in head_dims for m in masks]
    if not quick and "bfloat16" in dtypes:
        found += [
            Case("bfloat16", h, m, seq_len=n)
            for n in LONG
            for h in head_dims
            if h >= 64
            for m in masks
            if m in ("lengths", "segments")
        ]
    return found


def summary(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dtype | D | mask | T | passed | rel. error out / dq / dk / dv | x SDPA's error out / dq / dk / dv |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r["case"]
        if "error" in r:
            lines.append(f"| {c['dtype']} | {c['head_dim']} | {c['mask']} | {c['seq_len']} | **no** | {r['error']} | |")
            continue
        errors = " / ".join(f"{r['rel_error'][n]:.1e}" for n in ("out", "dq", "dk", "dv"))
        ratios = " / ".join("n/a" if r["ratio_to_sdpa"][n] is None else f"{r['ratio_to_sdpa'][n]:.2f}" for n in ("out", "dq", "dk", "dv"))
        flag = "yes" if r["passed"] else f"**no** (finite {r['finite']}, zeros {r['zeros_exact']})"
        lines.append(f"| {c['dtype']} | {c['head_dim']} | {c['mask']} | {c['seq_len']} | {flag} | {errors} | {ratios} |")
    return lines


def device_label(device: str) -> str:
    """The device and the versions that matter, as the rows and the page record them."""
    import triton

    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (Triton interpreter)"
    return f"{name}, torch {torch.__version__}, triton {triton.__version__}"


def render(jsonl: Path, page: Path, label: str | None) -> None:
    """Write the table of a finished run (``--output`` JSON lines) into ``page``'s section for this tool."""
    results = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    results.sort(key=lambda r: (r["case"]["dtype"], r["case"]["head_dim"], r["case"]["seq_len"], MASKS.index(r["case"]["mask"])))
    label = label or next((r["device"] for r in results if "device" in r), None)
    if label is None:
        raise SystemExit(f"{jsonl} does not say which device it ran on: pass --label")
    passed = sum(r["passed"] for r in results)
    lines = [
        f"Made by `benchmarks/attention_check.py` on {label}: {passed} of {len(results)} cases passed.",
        "Relative errors `||x - ref|| / ||ref||` against float64; `x SDPA's` divides by SDPA's error in the same dtype.",
        "",
        *summary(results),
    ]
    _page.write_section(page, "benchmarks/attention_check.py", lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES))
    parser.add_argument("--head-dims", type=int, nargs="+", default=list(HEAD_DIMS))
    parser.add_argument("--masks", nargs="+", choices=MASKS, default=list(MASKS))
    parser.add_argument("--quick", action="store_true", help="tiny shapes (for the CPU interpreter)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--output", type=Path, help="JSON lines, one per case, written as they finish")
    parser.add_argument("--render", type=Path, metavar="JSONL", help="run nothing: put this run's table into --page")
    parser.add_argument("--page", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "performance.md")
    parser.add_argument("--label", help="the device, for --render of rows that do not name it")
    args = parser.parse_args(argv)
    if args.render is not None:
        render(args.render, args.page, args.label)
        return 0
    label = device_label(args.device)
    todo = [(asdict(c), args.device) for c in cases(args.dtypes, args.head_dims, args.masks, args.quick)]
    start = time.perf_counter()
    results = []
    sink = args.output.open("a", encoding="utf-8") if args.output else None
    try:
        if args.jobs > 1:
            pool = multiprocessing.get_context("spawn").Pool(args.jobs)
            stream = pool.imap_unordered(_worker, todo)
        else:
            pool, stream = None, map(_worker, todo)
        for result in stream:
            result["device"] = label
            results.append(result)
            if sink is not None:
                sink.write(json.dumps(result) + "\n")
                sink.flush()
            if not result["passed"]:
                print(f"FAILED {result['case']}: {result.get('error') or result['rel_error']}", flush=True)
        if pool is not None:
            pool.close()
    finally:
        if sink is not None:
            sink.close()
    results.sort(key=lambda r: (r["case"]["dtype"], r["case"]["head_dim"], r["case"]["seq_len"], MASKS.index(r["case"]["mask"])))
    print("\n".join(summary(results)))
    failed = sum(not r["passed"] for r in results)
    print(f"{len(results) - failed} of {len(results)} cases passed in {time.perf_counter() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
