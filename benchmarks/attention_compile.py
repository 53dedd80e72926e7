"""Compile the fused attention kernels for a GPU architecture on any machine, GPU or not.

Runs Triton's whole pipeline down to a cubin for the target (``sm_90`` by default) and reports, per
kernel and configuration, registers per thread, spilled bytes and shared memory, read from the cubin
with the ``cuobjdump`` that Triton ships. It catches what only real compilation catches (the CPU
interpreter runs none of it): front-end type errors, shared memory over the limit, spills::

    python benchmarks/attention_compile.py                         # the default configurations
    python benchmarks/attention_compile.py --candidates --head-dims 64 --kernels forward

``--candidates`` compiles the tuner's whole pruned space (``benchmarks/attention_tune.py``) instead of
the defaults. The inputs only fix dtypes and divisibility: bf16 by default, 16-aligned strides.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

os.environ.pop("TRITON_INTERPRET", None)  # compiled mode: this tool never runs a kernel

_DTYPES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32", torch.int32: "i32", torch.int64: "i64"}


def signature(launch: Any, config: Any) -> tuple[dict[str, str], dict[str, Any], dict[tuple[int, ...], list]]:
    """Triton's ``ASTSource`` signature, constexprs and divisibility attributes of a launch."""
    names = launch.kernel.arg_names
    constexprs = {
        **launch.constexprs,
        "BLOCK_M": config.block_m,
        **({"BLOCK_N": config.block_n} if "BLOCK_N" in names else {}),
    }
    types: dict[str, str] = {}
    attrs: dict[tuple[int, ...], list] = {}
    values = dict(zip([n for n in names if n not in constexprs], launch.args, strict=True))
    for index, name in enumerate(names):
        if name in constexprs:
            types[name] = "constexpr"
            continue
        value = values[name]
        if isinstance(value, torch.Tensor):
            types[name] = "*" + _DTYPES[value.dtype]
            attrs[(index,)] = [["tt.divisibility", 16]]
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name}: {type(value).__name__}")
        elif isinstance(value, float):
            types[name] = "fp32"
        elif value == 1:
            types[name] = "constexpr"  # Triton specialises integer arguments equal to 1
            constexprs[name] = 1
        else:
            types[name] = "i32"
            if value % 16 == 0:
                attrs[(index,)] = [["tt.divisibility", 16]]
    return types, constexprs, attrs


def resources(cubin: bytes) -> dict[str, int]:
    """Registers, spill stores and shared memory of a cubin's kernel (``cuobjdump --dump-resource-usage``)."""
    import tempfile

    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        text = subprocess.run([str(tool), "--dump-resource-usage", file.name], capture_output=True, text=True).stdout
    found = {key: int(value) for key, value in re.findall(r"(REG|STACK|SHARED|LOCAL):(\d+)", text)}
    return {"registers": found.get("REG", 0), "stack": found.get("STACK", 0), "local": found.get("LOCAL", 0)}


def compile_one(launch: Any, config: Any, arch: int) -> dict[str, Any]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    types, constexprs, attrs = signature(launch, config)
    source = ASTSource(fn=launch.kernel, signature=types, constexprs=constexprs, attrs=attrs)
    start = time.perf_counter()
    compiled = triton.compile(
        source,
        target=GPUTarget("cuda", arch, 32),
        options={"num_warps": config.num_warps, "num_stages": config.num_stages},
    )
    found = resources(compiled.asm["cubin"])
    found["shared"] = int(compiled.metadata.shared)
    found["seconds"] = round(time.perf_counter() - start, 1)
    found["wgmma"] = "wgmma" in compiled.asm.get("ptx", "")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability as major*10+minor")
    parser.add_argument("--head-dims", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--kernels", nargs="+", default=["forward", "dkdv", "dq", "delta"])
    parser.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16")
    parser.add_argument("--masks", nargs="+", choices=("none", "lengths", "segments"), default=["lengths", "segments"])
    parser.add_argument("--candidates", action="store_true", help="the tuner's search space, not the defaults")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from attention_tune import candidates

    from mmzoo.ops._attention_configs import default_config
    from mmzoo.ops._triton_attention import backward_launches, forward_launch

    dtype = getattr(torch, args.dtype)
    failures = 0
    print("| kernel | D | mask | config | registers | stack B | shared B | wgmma | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for head_dim in args.head_dims:
        for mask in args.masks:
            q = torch.empty(2, 16, 256, head_dim, dtype=dtype)
            lengths = torch.full((2,), 256, dtype=torch.int32) if mask != "none" else None
            seg = torch.zeros(2, 256, dtype=torch.int32) if mask == "segments" else None
            out, lse, forward = forward_launch(q, q, q, lengths, lengths, seg, seg, 0.125)
            *_, (delta, dkdv, dq) = backward_launches(q, None, q, q, q, out, lse, lengths, lengths, seg, seg, 0.125)
            launches = {"forward": forward, "dkdv": dkdv, "dq": dq, "delta": delta}
            for kernel in args.kernels:
                launch = launches[kernel]
                skip = launch.constexprs.get("SKIP_BLOCKS", False)
                if kernel == "delta":
                    configs = [launch.config]
                elif args.candidates:
                    configs = candidates(kernel, head_dim)
                else:
                    configs = [default_config(kernel, head_dim, dtype, skip)]
                for config in configs:
                    label = f"{config.block_m}x{config.block_n} w{config.num_warps} s{config.num_stages}"
                    try:
                        found = compile_one(launch, config, args.arch)
                    except Exception as exc:
                        failures += 1
                        message = str(exc).splitlines()[0][:200] if str(exc) else ""
                        print(f"| {kernel} | {head_dim} | {mask} | {label} | failed: {type(exc).__name__}: {message} |||||")
                        continue
                    print(
                        f"| {kernel} | {head_dim} | {mask} | {label} | {found['registers']} | {found['stack']} |"
                        f" {found['shared']} | {found['wgmma']} | {found['seconds']} |",
                        flush=True,
                    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
