"""The GPU tools of the fused kernel (tuner, correctness check, page sections) on the CPU.

The tuner and the check run their real code paths in Triton's interpreter on tiny shapes; what they
measure on the CPU means nothing, but every step that runs on the GPU runs here too.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import pytest
import torch

from ..conftest import REPO

BENCHMARKS = REPO / "benchmarks"
KERNELS = "mmzoo.ops._triton_attention"


@pytest.fixture(scope="module")
def tools():
    """The tool modules, with the kernels built for the interpreter (restored afterwards)."""
    pytest.importorskip("triton")
    sys.path.insert(0, str(BENCHMARKS))
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    was_loaded = sys.modules.get(KERNELS)
    try:
        kernels = importlib.import_module(KERNELS)
        if not kernels.INTERPRETED:
            importlib.reload(kernels)
        yield {name: importlib.import_module(name) for name in ("attention_tune", "attention_check", "_page")}
    finally:
        sys.path.remove(str(BENCHMARKS))
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous
        if was_loaded is None or not was_loaded.INTERPRETED:
            sys.modules.pop(KERNELS, None)


def page_with(tmp_path, *tools: str):
    lines = ["# Page", "", "before"]
    for tool in tools:
        lines += ["<!-- %s results: start -->" % tool, "old", "<!-- %s results: end -->" % tool]
    page = tmp_path / "page.md"
    page.write_text("\n".join([*lines, "after", ""]))
    return page


def test_candidates_start_with_the_default_and_respect_the_pruning_limits(tools) -> None:
    tune = tools["attention_tune"]
    from mmzoo.ops._attention_configs import default_config

    for kernel in ("forward", "dkdv", "dq"):
        for head_dim in (16, 32, 64, 128):
            found = tune.candidates(kernel, head_dim)
            assert found[0] == default_config(kernel, head_dim, torch.bfloat16, False)
            assert len(found) == len(set(found)) and 4 <= len(found) <= 14
            for config in found[2:]:  # the defaults are kept whatever the estimates say
                assert tune._shared_bytes(kernel, config.block_m, config.block_n, config.num_stages, head_dim) <= tune.SHARED_LIMIT
                regs = tune._accumulator_registers(kernel, config.block_m, config.block_n, config.num_warps, head_dim)
                assert regs <= tune.REGISTER_LIMIT


def test_the_tuner_writes_a_table_the_kernels_can_load_and_the_page_can_show(tools, tmp_path) -> None:
    tune = tools["attention_tune"]
    from mmzoo.ops._attention_configs import TunedKey, load_tuned

    table = tmp_path / "tuned.json"
    argv = ["--device", "cpu", "--head-dims", "16", "--buckets", "32", "--tokens", "32", "--heads", "1",
            "--kernels", "forward", "--segments", "off", "--max-candidates", "2", "--output", str(table)]  # fmt: skip
    tune.main(argv)
    data = json.loads(table.read_text())
    assert data["complete"] and [e["kernel"] for e in data["entries"]] == ["forward"]
    entry = data["entries"][0]
    assert len(entry["timings"]) == 2 and entry["ms"] == min(entry["timings"].values())
    assert TunedKey("forward", 16, False, 32) in load_tuned(table)

    page = page_with(tmp_path, "benchmarks/attention_tune.py")
    tune.main(["--render", str(table), "--page", str(page)])
    text = page.read_text()
    assert "| forward | 16 | no | 32 |" in text and "old" not in text and text.endswith("after\n")


def test_the_check_compares_kernel_and_sdpa_with_float64_and_renders_its_table(tools, tmp_path) -> None:
    check = tools["attention_check"]
    results = tmp_path / "check.jsonl"
    argv = ["--device", "cpu", "--quick", "--dtypes", "float32", "--head-dims", "16",
            "--masks", "none", "lengths", "--output", str(results)]  # fmt: skip
    assert check.main(argv) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {row["case"]["mask"] for row in rows} == {"none", "lengths"}
    for row in rows:
        assert row["passed"] and row["device"].startswith("cpu")
        assert all(0 < error < 1e-4 for error in row["rel_error"].values())

    page = page_with(tmp_path, "benchmarks/attention_check.py")
    check.main(["--render", str(results), "--page", str(page)])
    assert "2 of 2 cases passed" in page.read_text()


def test_the_reference_mask_is_built_on_the_inputs_device_even_without_mask_tensors(tools) -> None:
    """On the GPU the ``none`` cases once failed: their mask was built on the CPU."""
    check = tools["attention_check"]
    case = check.Case("bfloat16", 16, "none", batch=2, heads=1, seq_len=5, cross_len=7)
    masks = check.mask_inputs(case, torch.device("meta"), torch.Generator().manual_seed(0))
    assert all(t is None for t in masks.values())
    assert check.allowed_mask(case, masks, torch.device("meta")).device.type == "meta"


def test_a_page_without_the_tools_markers_is_an_error(tools, tmp_path) -> None:
    page = page_with(tmp_path)
    with pytest.raises(SystemExit, match="no section"):
        tools["_page"].write_section(page, "benchmarks/attention_check.py", ["x"])
