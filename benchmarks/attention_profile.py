"""Where the fused kernel's time goes: the PyTorch profiler over forward+backward of the kernel and SDPA.

Prints (and with ``--output`` writes) one table per setting: each CUDA kernel's total and mean time
over ``--repeats`` forward+backward passes, for the kernel (``_fwd_kernel``, ``_bwd_delta_kernel``,
``_bwd_dkdv_kernel``, ``_bwd_dq_kernel``) and for SDPA given the same boolean key mask::

    python benchmarks/attention_profile.py --output /tmp/profile.txt          # on the GPU
    TRITON_INTERPRET=1 python benchmarks/attention_profile.py --device cpu --head-dims 16 \\
        --seq-len 32 --tokens 64 --repeats 1                                  # CPU smoke run

Shapes as ``benchmarks/attention.py``: bf16, ``B x T`` = 16k tokens, ``H x D`` = 2048; padding as
there (row ``b`` keeps ``round(T (1 - 2p (b + 1/2) / B))`` tokens).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from attention import HIDDEN, TOKENS, Case  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from torch.profiler import ProfilerActivity, profile


def profile_case(case: Case, device: torch.device, repeats: int) -> str:
    from mmzoo.ops.fused_attention import fused_attention

    dtype = torch.bfloat16
    shape = (case.batch, case.heads, case.seq_len, case.head_dim)
    q, k, v, grad = (torch.randn(shape, device=device, dtype=dtype) for _ in range(4))
    leaves = [t.requires_grad_() for t in (q, k, v)]
    lengths = torch.tensor(case.lengths(), device=device, dtype=torch.int32) if case.padding else None
    key_mask = None if lengths is None else torch.arange(case.seq_len, device=device)[None] < lengths[:, None]
    if lengths is not None:
        grad = grad * key_mask[:, None, :, None].to(dtype)

    def kernel() -> None:
        fused_attention(q, k, v, key_lengths=lengths, query_lengths=lengths).backward(grad)

    def sdpa() -> None:
        mask = None if key_mask is None else key_mask[:, None, None, :]
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask).backward(grad)

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "device_time_total" if device.type == "cuda" else "cpu_time_total"
    tables = []
    for name, fn in (("kernel", kernel), ("sdpa", sdpa)):
        fn()  # compile and warm up outside the profile
        for leaf in leaves:
            leaf.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        with profile(activities=activities) as prof:
            for _ in range(repeats):
                fn()
                for leaf in leaves:
                    leaf.grad = None
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        title = (
            f"## {name}: D {case.head_dim}, H {case.heads}, T {case.seq_len}, B {case.batch},"
            f" padding {case.padding:.0%}, {repeats} forward+backward passes"
        )
        tables.append(title + "\n\n" + prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=60))
    return "\n\n".join(tables)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--head-dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--paddings", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--heads", type=int, help=f"heads (default {HIDDEN} / head dim)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sections = []
    for head_dim in args.head_dims:
        for padding in args.paddings:
            heads = args.heads or max(1, HIDDEN // head_dim)
            case = Case(head_dim, heads, args.seq_len, max(1, args.tokens // args.seq_len), padding)
            sections.append(profile_case(case, device, args.repeats))
            print(sections[-1], flush=True)
            if args.output is not None:
                args.output.write_text("\n\n".join(sections) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
