"""Read JSONL and CSV manifests: one row per example, one field per modality and target.

A manifest is read as bytes and decoded line by line, so that every line that cannot be a row
(not UTF-8, not a JSON object, the wrong number of CSV values, an id an earlier row already has)
is named by its line number and comes back as a :class:`~mmzoo.data.bad_rows.BadRow`: the
datamodule stops on it or skips it, as ``on_bad_sample`` says. Problems that leave no row
readable (a missing file, an unknown format, a CSV header that does not fit its rows) raise.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzoo.data.bad_rows import BadRow, default_id
from mmzoo.errors import DataError

__all__ = ["Manifest", "ManifestRow", "read_manifest"]

_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row.

    Attributes:
        manifest: the manifest file.
        line: 1-based line number in the file (CSV: counting the header line).
        fields: field name -> raw value.
    """

    manifest: Path
    line: int
    fields: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.manifest}:{self.line}"

    @property
    def id(self) -> str:
        """The row's ``id`` field, or ``<manifest file name>:<line>`` when it is absent, null or blank."""
        value = self.fields.get("id")
        if value is None or (isinstance(value, str) and not value.strip()):
            return default_id(self.manifest, self.line)
        return str(value)

    def resolve(self, value: str) -> Path:
        """A path from the manifest, relative to the manifest's folder unless absolute."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.manifest.parent / path


@dataclass(frozen=True)
class Manifest:
    """What a manifest holds.

    Attributes:
        path: the manifest file.
        rows: its usable rows, in file order.
        bad: its lines that give no usable row, in file order.
    """

    path: Path
    rows: list[ManifestRow]
    bad: list[BadRow] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many rows the file has, usable or not (blank lines and the CSV header left out)."""
        return len(self.rows) + len({bad.line for bad in self.bad})


def _line_problem(path: Path, line: int, problem: str) -> BadRow:
    return BadRow(path, line, default_id(path, line), "", problem)


def _decoded_lines(path: Path, data: bytes) -> tuple[list[tuple[int, str]], list[BadRow]]:
    """``(line number, text)`` of the lines that are UTF-8 (ends kept), and a problem for each other."""
    if data.startswith(_BOM):  # what spreadsheet programs put at the start of a "UTF-8" CSV
        data = data[len(_BOM) :]
    lines: list[tuple[int, str]] = []
    bad: list[BadRow] = []
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            problem = (
                f"the line is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1} of the line);"
                " save the manifest as UTF-8"
            )
            bad.append(_line_problem(path, number, problem))
    return lines, bad


def _read_jsonl(
    path: Path, lines: list[tuple[int, str]], undecodable: list[BadRow]
) -> tuple[list[ManifestRow], list[BadRow]]:
    rows: list[ManifestRow] = []
    bad = list(undecodable)
    for number, text in lines:
        if not text.strip():
            continue
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = (
                f"invalid JSON ({exc.msg} at column {exc.colno}); each line of a .jsonl manifest is one JSON object"
            )
            bad.append(_line_problem(path, number, problem))
            continue
        if not isinstance(fields, dict):
            kind = "null" if fields is None else _JSON_KINDS.get(type(fields), type(fields).__name__)
            problem = f"the line is {kind}, not a JSON object; each line of a .jsonl manifest is one object"
            bad.append(_line_problem(path, number, problem))
            continue
        rows.append(ManifestRow(path, number, fields))
    return rows, bad


class _Numbered:
    """Feeds lines to a CSV reader and notes the number of the first line of each record."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines
        self.start = 0

    def __iter__(self) -> Iterator[str]:
        for number, text in self.lines:
            if self.start == 0:
                self.start = number
            yield text


def _csv_records(path: Path, lines: list[tuple[int, str]]) -> tuple[list[tuple[int, list[str]]], list[BadRow]]:
    """``(first line number, values)`` of each non-blank CSV record, and a problem for each unparsable one."""
    source = _Numbered(lines)
    reader = csv.reader(source, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    records: list[tuple[int, list[str]]] = []
    bad: list[BadRow] = []
    while True:
        source.start = 0
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(_line_problem(path, source.start, f"not a valid CSV line ({exc})"))
            continue
        if values and not (len(values) == 1 and not values[0].strip()):
            records.append((source.start, values))
    return records, bad


def _read_csv(
    path: Path, lines: list[tuple[int, str]], undecodable: list[BadRow]
) -> tuple[list[ManifestRow], list[BadRow]]:
    records, unparsable = _csv_records(path, lines)
    bad = [*undecodable, *unparsable]
    if not records:
        return [], bad
    (header_line, header), records = records[0], records[1:]
    before = [problem for problem in bad if problem.line < header_line]
    if before:  # the header itself is the line that cannot be read
        first = min(before, key=lambda problem: problem.line)
        raise DataError(f"{first.where}: the header of a CSV manifest cannot be read: {first.problem}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}:{header_line}: the header names {', '.join(map(repr, repeated))} more than once")
    # When most rows agree with each other but not with the header on the number of values, the
    # header is what is wrong: one message for it rather than one per row.
    misfits = Counter(len(values) for _, values in records if len(values) != len(header))
    if misfits:
        count, rows_with_it = misfits.most_common(1)[0]
        if 2 * rows_with_it > len(records):
            first = next(number for number, values in records if len(values) == count)
            raise DataError(
                f"{path}:{header_line}: the header has {len(header)} columns ({', '.join(header)}), but"
                f" {rows_with_it} of the {len(records)} rows have {count} values (the first: line {first})",
                hint="give the header one column name per value of a row",
            )
    rows: list[ManifestRow] = []
    for number, values in records:
        if len(values) != len(header):
            problem = f"{len(values)} values, but the header (line {header_line}) has {len(header)} columns"
            bad.append(_line_problem(path, number, problem))
            continue
        rows.append(ManifestRow(path, number, {k: v for k, v in zip(header, values) if v != ""}))
    return rows, bad


def _drop_repeated_ids(rows: list[ManifestRow]) -> tuple[list[ManifestRow], list[BadRow]]:
    """The rows whose id is new, and a problem for each later row with an id seen before (or an unusable id)."""
    first: dict[str, ManifestRow] = {}
    kept: list[ManifestRow] = []
    bad: list[BadRow] = []
    for row in rows:
        value = row.fields.get("id")
        if isinstance(value, (bool, list, dict)):
            kind = "a boolean" if isinstance(value, bool) else _JSON_KINDS.get(type(value), "an object")
            bad.append(BadRow(row.manifest, row.line, row.id, "id", f"an id is a string or a number, not {kind}"))
            continue
        earlier = first.setdefault(row.id, row)
        if earlier is not row:
            problem = f"{earlier.where} and {row.where} both have id {row.id!r}; ids must be unique in a manifest"
            bad.append(BadRow(row.manifest, row.line, row.id, "id", problem))
            continue
        kept.append(row)
    return kept, bad


def read_manifest(path: str | Path) -> Manifest:
    """Read a ``.jsonl``/``.json``/``.ndjson`` (one object per line) or ``.csv``/``.tsv`` (header row) manifest.

    Lines that give no usable row are returned in :attr:`Manifest.bad`: a line that is not UTF-8,
    not JSON or not a JSON object, a CSV row with more or fewer values than the header, a row
    whose id an earlier row has (the first one is kept) or whose id is not a string or number.

    Raises:
        DataError: a missing or unreadable file, an unknown format, a CSV header that is unreadable,
            repeats a column or disagrees with most rows, or a file without a single row.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path}", hint="paths in the recipe are relative to the working directory")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".ndjson", ".csv", ".tsv"):
        raise DataError(f"manifest {path}: unknown format '{suffix}'", hint="use .jsonl or .csv")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from None
    lines, undecodable = _decoded_lines(path, data)
    read = _read_csv if suffix in (".csv", ".tsv") else _read_jsonl
    rows, unreadable = read(path, lines, undecodable)
    rows, repeated = _drop_repeated_ids(rows)
    bad = sorted([*unreadable, *repeated], key=lambda problem: problem.line)
    if not rows and not bad:
        raise DataError(f"manifest {path} has no rows")
    return Manifest(path, rows, bad)
