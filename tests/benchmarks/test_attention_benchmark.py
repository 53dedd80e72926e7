"""benchmarks/attention.py runs on CPU with a tiny grid and writes a page with the expected tables.

The fused kernel is left out (``--backends sdpa flex``): on CPU it needs the Triton interpreter,
too slow for a smoke test, and the benchmark must work whether or not the kernel is there.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys

import pytest

from ..conftest import REPO

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture(scope="module")
def attention_benchmark():
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers (_machine) as top-level modules
    try:
        yield importlib.import_module("attention")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_cpu_smoke_run_writes_the_tables(attention_benchmark, tmp_path):
    page = tmp_path / "performance.md"
    written = attention_benchmark.main(
        [
            "--device", "cpu", "--quick", "--output", str(page),
            "--head-dims", "16", "--seq-lens", "32", "64", "--paddings", "0", "0.5",
            "--tokens", "64", "--heads", "1", "--repeats", "1", "--backends", "sdpa", "flex",
            "--results", str(tmp_path / "results.json"),
        ]
    )  # fmt: skip
    assert written == page
    text = page.read_text()
    assert "## Head dim 16, 1 heads" in text
    assert "## Targets" in text
    assert "CPU smoke run" in text
    rows = [line for line in text.splitlines() if re.match(r"\| (32|64) \| \d+ \| ", line)]
    assert len(rows) == 4  # two lengths x two paddings
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 12
        forward = cells[3].split(" / ")
        assert forward[0] == "n/a"  # the kernel was not run
        assert float(forward[1]) > 0 and float(forward[2]) > 0  # SDPA and (eager) Flex were timed
        assert float(cells[4].split(" / ")[1]) > 0  # SDPA forward+backward
        kernel_error, sdpa_error = cells[8].split(" / ")
        assert kernel_error == "n/a"
        assert math.isfinite(float(sdpa_error)) and 0 <= float(sdpa_error) < 0.1
    assert "- fused kernel: n/a (not run (--backends))" in text
    assert re.search(r"\| 64 \| 1 \| 50 % \(\d+\.\d %\) \|", text)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["device"] == "cpu" and len(saved["rows"]) == 4


def test_padding_is_deterministic_with_the_asked_mean(attention_benchmark):
    case = attention_benchmark.Case(head_dim=64, heads=32, seq_len=1024, batch=16, padding=0.25)
    lengths = case.lengths()
    assert lengths == case.lengths()
    assert min(lengths) >= 1 and max(lengths) <= 1024
    assert abs(1 - sum(lengths) / (16 * 1024) - 0.25) < 0.01
    assert case.dense_forward_flops() > case.useful_forward_flops()


def test_cpu_figures_never_go_into_the_docs_page(attention_benchmark):
    with pytest.raises(SystemExit):
        attention_benchmark.main(["--device", "cpu", "--quick"])


def test_results_replace_only_the_marked_section_of_the_docs_page(attention_benchmark, tmp_path):
    page = tmp_path / "performance.md"
    page.write_text((REPO / "docs" / "performance.md").read_text(encoding="utf-8"), encoding="utf-8")
    written = attention_benchmark.splice_results(page, ["# Generated title", "", "| new | table |", ""])
    head, rest = written.split(attention_benchmark.RESULTS_START)
    inside, tail = rest.split(attention_benchmark.RESULTS_END)
    assert "| new | table |" in inside and "Not measured yet" not in inside
    assert head.startswith("# Performance: the fused masked-attention kernel") and "## Launch configurations" in head
    assert "## Lightning's own overhead" in tail and "Generated title" not in written
