"""Prediction files: rows appended per batch, and a file cut off by a killed run repaired for resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmzoo.predictions import read_jsonl, repair_jsonl


def test_repair_keeps_whole_rows_and_cuts_a_partial_last_line(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    whole = "".join(json.dumps({"id": str(i), "value": i}) + "\n" for i in range(3))
    path.write_text(whole + '{"id": "3", "val')
    rows = repair_jsonl(path)
    assert [row["id"] for row in rows] == ["0", "1", "2"]
    assert path.read_text() == whole  # ready to append to


def test_repair_adds_a_missing_final_newline_and_creates_a_missing_file(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "0"}')
    assert [row["id"] for row in repair_jsonl(path)] == ["0"]
    assert path.read_text() == '{"id": "0"}\n'
    missing = tmp_path / "new.jsonl"
    assert repair_jsonl(missing) == [] and missing.read_text() == ""


def test_a_bad_line_before_the_last_is_an_error_naming_it(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "0"}\nnot json\n{"id": "2"}\n')
    with pytest.raises(ValueError, match=r"predictions.jsonl:2"):
        read_jsonl(path)


def test_plain_predict_resumes_in_its_run_directory(tiny_recipe):
    from mmzoo.run import run_recipe

    run_recipe("fit", tiny_recipe, ["trainer.max_epochs=1"])
    first = run_recipe("predict", tiny_recipe)
    lines = first.predictions.read_text().splitlines(keepends=True)
    assert len(lines) == 32
    marked = [json.dumps({**json.loads(line), "mark": True}) + "\n" for line in lines[:10]]
    first.predictions.write_text("".join(marked) + lines[10][:5])
    resumed = run_recipe("predict", tiny_recipe, resume=first.run_dir)
    assert resumed.run_dir == first.run_dir
    rows, _ = read_jsonl(first.predictions)
    assert sorted(row["id"] for row in rows) == sorted(json.loads(line)["id"] for line in lines)
    assert sum(bool(row.get("mark")) for row in rows) == 10
