"""Which launch configuration a fused-attention launch gets: interpreter tiles, tuned tables, defaults."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from mmzoo.ops import _attention_configs as configs
from mmzoo.ops._attention_configs import (
    INTERPRETER_CONFIG,
    KERNELS,
    SEQ_BUCKETS,
    LaunchConfig,
    TunedKey,
    default_config,
    launch_config,
    load_tuned,
    seq_bucket,
)
from mmzoo.ops.fused_attention import SUPPORTED_HEAD_DIMS

CUDA = torch.device("cuda", 0)


def write_table(path: Path, entries: list[tuple[TunedKey, LaunchConfig]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "arch": "sm_90",
                "entries": [
                    {
                        "kernel": key.kernel,
                        "head_dim": key.head_dim,
                        "segments": key.segments,
                        "bucket": key.bucket,
                        "config": asdict(config),
                    }
                    for key, config in entries
                ],
            }
        )
    )
    return path


@pytest.fixture
def tuned(tmp_path, monkeypatch: pytest.MonkeyPatch) -> dict[TunedKey, LaunchConfig]:
    """A small table for a pretend sm_90 GPU, selected through the environment variable."""
    table = {
        TunedKey("forward", 64, False, 512): LaunchConfig(64, 128, 4, 4),
        TunedKey("forward", 64, False, 8192): LaunchConfig(128, 128, 8, 3),
        TunedKey("dq", 64, True, 2048): LaunchConfig(64, 64, 4, 3),
    }
    path = write_table(tmp_path / "attention_sm_90.json", list(table.items()))
    monkeypatch.setattr(configs, "_arch", lambda index: "sm_90")
    monkeypatch.setenv(configs.ENV_VAR, str(path))
    configs._table.cache_clear()
    yield table
    configs._table.cache_clear()


def pick(
    kernel: str, head_dim: int, dtype: torch.dtype, seq_len: int, *, segments: bool = False, interpreted: bool = False
) -> LaunchConfig:
    skip = segments and dtype != torch.float32  # as the kernels decide on a GPU
    return launch_config(
        kernel, head_dim, dtype, segments=segments, skip_blocks=skip, seq_len=seq_len, device=CUDA, interpreted=interpreted
    )


def test_buckets_take_the_smallest_that_holds_the_length() -> None:
    assert [seq_bucket(n) for n in (1, 512, 513, 2048, 2049, 8192, 100_000)] == [512, 512, 2048, 2048, 8192, 8192, 8192]


def test_a_tuned_entry_is_used_for_its_bucket_and_16_bit_dtypes(tuned) -> None:
    assert pick("forward", 64, torch.bfloat16, 300) == LaunchConfig(64, 128, 4, 4)
    assert pick("forward", 64, torch.float16, 300) == LaunchConfig(64, 128, 4, 4)  # fp16 shares the bf16 table
    assert pick("forward", 64, torch.bfloat16, 5000) == LaunchConfig(128, 128, 8, 3)
    assert pick("dq", 64, torch.bfloat16, 1500, segments=True) == LaunchConfig(64, 64, 4, 3)


def test_keys_without_an_entry_fall_back_to_the_defaults(tuned) -> None:
    # Bucket 2048 of the forward pass, segments for the forward pass, another head dim, fp32.
    assert pick("forward", 64, torch.bfloat16, 1500) == default_config("forward", 64, torch.bfloat16, False)
    assert pick("forward", 64, torch.bfloat16, 300, segments=True) == default_config("forward", 64, torch.bfloat16, True)
    assert pick("forward", 128, torch.bfloat16, 300) == default_config("forward", 128, torch.bfloat16, False)
    assert pick("forward", 64, torch.float32, 300) == default_config("forward", 64, torch.float32, False)


def test_the_environment_variable_can_turn_tables_off(tuned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(configs.ENV_VAR, "0")
    assert pick("forward", 64, torch.bfloat16, 300) == default_config("forward", 64, torch.bfloat16, False)


def test_another_architecture_has_no_table(tuned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(configs.ENV_VAR)
    monkeypatch.setattr(configs, "_arch", lambda index: "sm_7_nonexistent")
    assert pick("forward", 64, torch.bfloat16, 300) == default_config("forward", 64, torch.bfloat16, False)


def test_the_interpreter_always_gets_small_tiles(tuned) -> None:
    assert pick("forward", 64, torch.bfloat16, 300, interpreted=True) == INTERPRETER_CONFIG


def test_skipping_defaults_replace_the_tiles_that_would_spill() -> None:
    assert default_config("forward", 128, torch.bfloat16, True) != default_config("forward", 128, torch.bfloat16, False)
    assert default_config("dkdv", 128, torch.float16, True).block_m == 16
    assert default_config("dq", 128, torch.float32, True) == default_config("dq", 128, torch.float32, False)


def test_shipped_tables_are_complete_and_well_formed() -> None:
    """Every committed table covers each kernel, segment setting and bucket of the head dims it tunes,
    with tiles the kernels can take."""
    shipped = sorted(configs.TUNED_DIR.glob("attention_sm_*.json"))
    for path in shipped:
        data = json.loads(path.read_text())
        assert data["arch"] == path.stem.removeprefix("attention_")
        table = load_tuned(path)
        head_dims = {key.head_dim for key in table}
        assert head_dims <= set(SUPPORTED_HEAD_DIMS) and {64, 128} <= head_dims, path
        for head_dim in head_dims:
            for kernel in KERNELS:
                for segments in (False, True):
                    for bucket in SEQ_BUCKETS:
                        config = table.get(TunedKey(kernel, head_dim, segments, bucket))
                        assert config is not None, (path.name, kernel, head_dim, segments, bucket)
                        for size in (config.block_m, config.block_n):
                            assert 16 <= size <= 128 and math.log2(size).is_integer()
                        assert config.num_warps in (4, 8) and 1 <= config.num_stages <= 4
        for entry in data["entries"]:  # the tuner's records: the winner is never slower than the default
            if entry["ms"] is not None and entry["default_ms"] is not None:
                assert entry["ms"] <= entry["default_ms"]
