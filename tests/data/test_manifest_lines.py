"""Manifest lines that give no row: undecodable lines, CSV rows that do not fit, repeated ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmzoo.data.manifest import read_manifest
from mmzoo.data.manifest_datamodule import SKIPPED_FILE
from mmzoo.errors import DataError

from .conftest import write_jsonl
from .test_manifest_datamodule import make

TEXT_ONLY = {"text": {"type": "text"}}
GOOD = {"text": "one", "label": "odd"}


def text_only(manifest: Path, **overrides):
    return make(manifest, modalities=TEXT_ONLY, **overrides)


def skipped_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / SKIPPED_FILE).read_text().splitlines()]


@pytest.mark.parametrize(
    "line, fragment",
    [
        (b'{"text": "caf\xe9", "label": "odd"}', "the line is not UTF-8 text (byte 0xe9 at position 14 of the line)"),
        (b'{"text": "one", "label": }', "invalid JSON (Expecting value at column 26)"),
        (b'["one", "odd"]', "the line is an array, not a JSON object"),
        (b'"one"', "the line is a string, not a JSON object"),
        (b"null", "the line is null, not a JSON object"),
    ],
)
def test_a_line_that_is_no_row_names_file_and_line(tmp_path, line, fragment):
    manifest = tmp_path / "train.jsonl"
    good = json.dumps(GOOD).encode()
    manifest.write_bytes(b"\n".join([good, good.replace(b"one", b"two"), line, good.replace(b"one", b"six")]) + b"\n")
    with pytest.raises(DataError) as info:
        text_only(manifest).setup("fit")
    assert "1 bad row in" in info.value.message
    assert f"{manifest}:3: {fragment}" in info.value.message
    assert "on_bad_sample=skip" in info.value.hint

    skipping = text_only(manifest, on_bad_sample="skip")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    skipping.attach_run_dir(run_dir)
    skipping.setup("fit")
    assert [row.line for row in skipping.rows["train"]] == [1, 2, 4]
    listed = skipped_records(run_dir)
    assert [(entry["split"], entry["row"]) for entry in listed] == [
        ("train", f"{manifest}:3"),
        ("val", f"{manifest}:3"),
    ]
    assert fragment in listed[0]["problem"] and listed[0]["id"] == "train.jsonl:3"


def test_lines_keep_their_numbers_around_blank_and_undecodable_lines(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b'{"id": "a"}\n\n\xff\xff\r\n{"id": "b"}\r\n{"id": "c", "text": "x\xe2\x80\xa8y"}\n')
    read = read_manifest(manifest)
    assert [(row.line, row.id) for row in read.rows] == [(1, "a"), (4, "b"), (5, "c")]
    assert read.rows[2].fields["text"] == "x\u2028y", "a Unicode line separator inside a string is no line break"
    assert [bad.line for bad in read.bad] == [3] and read.size == 4


def test_every_bad_line_is_listed_when_every_line_is_bad(tmp_path):
    manifest = tmp_path / "train.jsonl"
    manifest.write_bytes(b"{oops\n[1]\n")
    with pytest.raises(DataError, match="2 bad rows in") as info:
        text_only(manifest).setup("fit")
    assert (
        f"{manifest}:1: invalid JSON" in info.value.message
        and f"{manifest}:2: the line is an array" in info.value.message
    )
    with pytest.raises(DataError, match=r"has no usable rows \(2 rows, all bad\)"):
        text_only(manifest, on_bad_sample="skip").setup("fit")


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "header, values, fragment",
    [
        ("id,text", "{i},word {i},odd", "the header has 2 columns (id, text), but 6 of the 6 rows have 3 values"),
        (
            "id,text,label,extra",
            "{i},word {i},odd",
            "the header has 4 columns (id, text, label, extra), but 6 of the 6",
        ),
    ],
)
def test_a_csv_header_with_a_column_too_few_or_too_many_is_reported_once(tmp_path, header, values, fragment):
    manifest = write_csv(tmp_path / "train.csv", [header, *(values.format(i=i) for i in range(6))])
    for policy in ("error", "skip"):
        with pytest.raises(DataError) as info:
            text_only(manifest, on_bad_sample=policy).setup("fit")
        assert info.value.message.startswith(f"{manifest}:1: {fragment}")
        assert info.value.message.count("values") == 1 and "(the first: line 2)" in info.value.message


def test_a_csv_row_with_a_value_too_few_or_too_many_is_a_bad_row(tmp_path):
    lines = ["id,text,label", "a,one,odd", "b,two,odd,surplus", "c,three", "d,four,odd", "e,five,odd"]
    manifest = write_csv(tmp_path / "train.csv", lines)
    with pytest.raises(DataError) as info:
        text_only(manifest).setup("fit")
    assert "2 bad rows in" in info.value.message
    assert f"{manifest}:3: 4 values, but the header (line 1) has 3 columns" in info.value.message
    assert f"{manifest}:4: 2 values, but the header (line 1) has 3 columns" in info.value.message
    skipping = text_only(manifest, on_bad_sample="skip")
    skipping.setup("fit")
    assert [row.id for row in skipping.rows["train"]] == ["a", "d", "e"]


def test_csv_header_problems_that_stop_the_read(tmp_path):
    repeated = write_csv(tmp_path / "repeated.csv", ["id,text,text", "a,one,two"])
    with pytest.raises(DataError, match=r"repeated.csv:1: the header names 'text' more than once"):
        read_manifest(repeated)
    undecodable = tmp_path / "undecodable.csv"
    undecodable.write_bytes(b"id,t\xe9xt\na,one\n")
    with pytest.raises(
        DataError, match=r"undecodable.csv:1: the header of a CSV manifest cannot be read: the line is not UTF-8"
    ):
        read_manifest(undecodable)


def test_a_csv_from_a_spreadsheet_with_a_byte_order_mark_reads_its_first_column(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_bytes(b"\xef\xbb\xbfid,text,label\r\na,one,odd\r\n")
    assert read_manifest(manifest).rows[0].id == "a"


def test_a_repeated_id_is_an_error_naming_both_lines(tmp_path):
    rows = [{"id": f"u{i}", **GOOD} for i in range(8)]
    rows[6]["id"] = "u2"
    manifest = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as info:
        text_only(manifest).setup("fit")
    assert "1 bad row in" in info.value.message
    assert f"{manifest}:7: field 'id': {manifest}:3 and {manifest}:7 both have id 'u2'" in info.value.message


def test_the_skip_policy_keeps_the_first_of_repeated_ids_and_lists_the_others(tmp_path):
    rows = [{"id": f"u{i}", **GOOD} for i in range(10)]
    rows[5]["id"] = rows[8]["id"] = "u1"  # 10 rows in, 8 distinct ids
    manifest = write_jsonl(tmp_path / "unlabelled.jsonl", rows)
    datamodule = text_only(manifest, train=None, val=None, predict=str(manifest), on_bad_sample="skip")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    datamodule.attach_run_dir(run_dir)
    datamodule.setup("predict")
    ids = [datamodule.datasets["predict"][i]["id"] for i in range(len(datamodule.datasets["predict"]))]
    assert ids == [f"u{i}" for i in (0, 1, 2, 3, 4, 6, 7, 9)], "every row predicted is its own id"
    listed = skipped_records(run_dir)
    assert [entry["row"] for entry in listed] == [f"{manifest}:6", f"{manifest}:9"]
    assert all(entry["field"] == "id" and entry["id"] == "u1" for entry in listed)
    assert f"{manifest}:2 and {manifest}:9 both have id 'u1'" in listed[1]["problem"]


def test_ids_need_only_be_unique_within_a_split(tmp_path):
    rows = [{"id": f"u{i}", **GOOD} for i in range(4)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    val = write_jsonl(tmp_path / "val.jsonl", rows[:2])
    datamodule = text_only(train, val=str(val))
    datamodule.setup("fit")
    assert len(datamodule.rows["train"]) == 4 and len(datamodule.rows["val"]) == 2


def test_rows_without_a_usable_id_field(tmp_path):
    rows = [GOOD, {"id": None, **GOOD}, {"id": "  ", **GOOD}, {"id": 7, **GOOD}, {"id": ["x"], **GOOD}]
    read = read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))
    assert [row.id for row in read.rows] == ["m.jsonl:1", "m.jsonl:2", "m.jsonl:3", "7"]
    assert [bad.render() for bad in read.bad] == [
        f"{tmp_path / 'm.jsonl'}:5: field 'id': an id is a string or a number, not an array"
    ]


def test_the_console_names_skipped_rows_jsonl_with_its_path(tmp_path, capsys):
    manifest = tmp_path / "train.jsonl"
    manifest.write_bytes(json.dumps(GOOD).encode() + b"\n{oops\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    datamodule = text_only(manifest, train=None, on_bad_sample="skip")
    datamodule.setup("validate")  # as mmzoo runs it: the rows are checked before the run directory exists
    datamodule.attach_run_dir(run_dir)
    err = capsys.readouterr().err
    assert f"mmzoo: skipped 1 bad row of {manifest} (1 problem), listed in {SKIPPED_FILE} in the run directory" in err
    assert f"mmzoo: 1 skipped row listed in {run_dir / SKIPPED_FILE}" in err
    attached_first = text_only(manifest, train=None, on_bad_sample="skip")
    attached_first.attach_run_dir(run_dir)
    attached_first.setup("validate")
    assert f"listed in {run_dir / SKIPPED_FILE}\n" in capsys.readouterr().err


def test_a_resumed_run_keeps_the_skipped_rows_listed_before(tmp_path):
    manifest = tmp_path / "train.jsonl"
    manifest.write_bytes(json.dumps(GOOD).encode() + b"\n{oops\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    earlier = '{"split": "train", "row": "elsewhere.jsonl:9", "id": "x", "field": "", "problem": "gone since"}\n'
    (run_dir / SKIPPED_FILE).write_text(earlier)
    for _ in range(2):
        datamodule = text_only(manifest, train=None, on_bad_sample="skip")
        datamodule.attach_run_dir(run_dir)
        datamodule.setup("validate")
    listed = skipped_records(run_dir)
    assert [entry["row"] for entry in listed] == ["elsewhere.jsonl:9", f"{manifest}:2"]
