"""Launch configurations of the fused attention kernels: hand-picked defaults and tuned tables.

Each of the three heavy kernels (``forward``, ``dkdv``, ``dq``) runs with a :class:`LaunchConfig`
(tile sizes, warps, pipeline stages). Where it comes from, in order:

1. Under the Triton CPU interpreter: 16x16 tiles, one warp (the interpreter runs every program in
   numpy; small tiles keep the tests fast).
2. A tuned table for the GPU's architecture, ``mmzoo/ops/tuned/attention_sm_<major><minor>.json``,
   written by ``benchmarks/attention_tune.py`` on that GPU (``triton.autotune`` over a pruned space).
   An entry is keyed by kernel, head dim, whether segment ids are given, and a sequence-length bucket;
   a call takes the entry of the smallest bucket that holds ``max(Tq, Tk)`` (the largest bucket past
   it). Tables are tuned on bfloat16 and serve float16 as well: both are 16-bit tensor-core inputs with
   the same tile shapes and instructions. float32 is not tuned (it is the accurate path, not the fast
   one) and keeps the defaults.
3. The hand-picked defaults below, for any other GPU, dtype or head dim.

A tuned file is read once per architecture. ``MMZOO_ATTENTION_TUNED=0`` ignores every table (the
defaults then run everywhere), and ``MMZOO_ATTENTION_TUNED=<file>`` uses that file instead of the
shipped one (for trying a fresh tuning before committing it).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "KERNELS",
    "SEQ_BUCKETS",
    "LaunchConfig",
    "TunedKey",
    "default_config",
    "launch_config",
    "load_tuned",
    "seq_bucket",
    "tuned_path",
]

#: The kernels that take a launch configuration (the small ``delta`` kernel has a fixed one).
KERNELS: tuple[str, ...] = ("forward", "dkdv", "dq")
#: Sequence-length buckets of the tuned tables: each is tuned at its own length.
SEQ_BUCKETS: tuple[int, ...] = (512, 2048, 8192)

TUNED_DIR = Path(__file__).with_name("tuned")
ENV_VAR = "MMZOO_ATTENTION_TUNED"


@dataclass(frozen=True)
class LaunchConfig:
    """Tile sizes and launch parameters of one kernel."""

    block_m: int
    block_n: int
    num_warps: int
    num_stages: int

    def label(self) -> str:
        return f"{self.block_m}x{self.block_n} w{self.num_warps} s{self.num_stages}"


@dataclass(frozen=True)
class TunedKey:
    """What a tuned entry is chosen by."""

    kernel: str
    head_dim: int
    segments: bool
    bucket: int


INTERPRETER_CONFIG = LaunchConfig(block_m=16, block_n=16, num_warps=1, num_stages=1)

# Hand-picked defaults for Hopper-class GPUs, keyed by head dim. FlashAttention-2 style: the forward
# pass keeps 128 queries resident and streams 64 keys per step; the dK/dV kernel keeps a key block
# resident (two fp32 accumulators) and streams small query blocks; the dQ kernel keeps 128 queries and
# streams keys. They were chosen by compiling for sm_90 and reading registers, spills and shared memory,
# not by timing; the tuned tables replace them where a GPU has been measured.
_FWD_16BIT = {
    16: LaunchConfig(128, 64, 4, 3),
    32: LaunchConfig(128, 64, 4, 3),
    64: LaunchConfig(128, 64, 8, 3),
    128: LaunchConfig(128, 64, 8, 3),
}
_DKDV_16BIT = {
    16: LaunchConfig(32, 128, 8, 2),
    32: LaunchConfig(32, 128, 8, 2),
    64: LaunchConfig(32, 128, 8, 2),
    128: LaunchConfig(32, 64, 8, 2),
}
_DQ_16BIT = {
    16: LaunchConfig(128, 64, 8, 2),
    32: LaunchConfig(128, 64, 8, 2),
    64: LaunchConfig(128, 64, 8, 2),
    128: LaunchConfig(128, 32, 8, 2),
}
# With segment-based block skipping compiled in, the branch around the products costs registers; these
# entries replace the ones above that would spill.
_FWD_16BIT_SKIP = {32: LaunchConfig(128, 64, 8, 3), 128: LaunchConfig(128, 32, 8, 3)}
_DKDV_16BIT_SKIP = {128: LaunchConfig(16, 64, 8, 2)}
# fp32 inputs go through 3-pass TF32 products: twice the bytes per tile and three products per dot, so
# the tiles are smaller.
_FWD_FP32 = {
    16: LaunchConfig(64, 64, 4, 2),
    32: LaunchConfig(64, 64, 4, 2),
    64: LaunchConfig(64, 32, 4, 2),
    128: LaunchConfig(64, 32, 8, 1),
}
_DKDV_FP32 = {
    16: LaunchConfig(32, 64, 4, 2),
    32: LaunchConfig(32, 64, 4, 2),
    64: LaunchConfig(32, 64, 8, 2),
    128: LaunchConfig(32, 32, 8, 1),
}
_DQ_FP32 = {
    16: LaunchConfig(64, 32, 4, 2),
    32: LaunchConfig(64, 32, 4, 2),
    64: LaunchConfig(64, 32, 4, 2),
    128: LaunchConfig(32, 32, 8, 1),
}
_DEFAULTS = {
    ("forward", False): (_FWD_16BIT, _FWD_FP32, {}),
    ("forward", True): (_FWD_16BIT, _FWD_FP32, _FWD_16BIT_SKIP),
    ("dkdv", False): (_DKDV_16BIT, _DKDV_FP32, {}),
    ("dkdv", True): (_DKDV_16BIT, _DKDV_FP32, _DKDV_16BIT_SKIP),
    ("dq", False): (_DQ_16BIT, _DQ_FP32, {}),
    ("dq", True): (_DQ_16BIT, _DQ_FP32, {}),
}


def default_config(kernel: str, head_dim: int, dtype: torch.dtype, skip_blocks: bool) -> LaunchConfig:
    """The hand-picked configuration of ``kernel`` (see the module docstring)."""
    sixteen_bit, fp32, skipping = _DEFAULTS[(kernel, skip_blocks)]
    if dtype == torch.float32:
        return fp32[head_dim]
    return skipping.get(head_dim, sixteen_bit[head_dim])


def seq_bucket(seq_len: int) -> int:
    """The smallest bucket of :data:`SEQ_BUCKETS` that holds ``seq_len``, else the largest."""
    for bucket in SEQ_BUCKETS:
        if seq_len <= bucket:
            return bucket
    return SEQ_BUCKETS[-1]


def tuned_path(arch: str) -> Path:
    """Where the shipped table of an architecture (``sm_90``) lives."""
    return TUNED_DIR / f"attention_{arch}.json"


def load_tuned(path: Path) -> dict[TunedKey, LaunchConfig]:
    """The entries of a tuned table file (see ``benchmarks/attention_tune.py`` for its format)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    table = {}
    for entry in data["entries"]:
        key = TunedKey(entry["kernel"], int(entry["head_dim"]), bool(entry["segments"]), int(entry["bucket"]))
        table[key] = LaunchConfig(**entry["config"])
    return table


@functools.lru_cache(maxsize=None)
def _table(arch: str, setting: str) -> dict[TunedKey, LaunchConfig]:
    if setting == "0":
        return {}
    path = Path(setting) if setting else tuned_path(arch)
    if not path.is_file():
        return {}
    return load_tuned(path)


@functools.lru_cache(maxsize=None)
def _arch(device_index: int) -> str:
    major, minor = torch.cuda.get_device_capability(device_index)
    return f"sm_{major}{minor}"


def launch_config(
    kernel: str,
    head_dim: int,
    dtype: torch.dtype,
    *,
    segments: bool,
    skip_blocks: bool,
    seq_len: int,
    device: torch.device,
    interpreted: bool,
) -> LaunchConfig:
    """The configuration a launch of ``kernel`` uses (see the module docstring for the order)."""
    if interpreted:
        return INTERPRETER_CONFIG
    if dtype != torch.float32 and device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        table = _table(_arch(index), os.environ.get(ENV_VAR, ""))
        tuned = table.get(TunedKey(kernel, head_dim, segments, seq_bucket(seq_len)))
        if tuned is not None:
            return tuned
    return default_config(kernel, head_dim, dtype, skip_blocks)
