"""Read JSONL and CSV manifests: one row per example, one field per modality and target."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.errors import DataError

__all__ = ["ManifestRow", "read_manifest"]


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
        """The row's ``id`` field, or ``<manifest file name>:<line>`` without one."""
        return str(self.fields.get("id", f"{self.manifest.name}:{self.line}"))

    def resolve(self, value: str) -> Path:
        """A path from the manifest, relative to the manifest's folder unless absolute."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.manifest.parent / path


def _read_jsonl(path: Path, text: str) -> list[ManifestRow]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})",
                hint="each line of a .jsonl manifest is one JSON object",
            ) from None
        if not isinstance(fields, dict):
            raise DataError(f"{path}:{number}: each line must be a JSON object, got {type(fields).__name__}")
        rows.append(ManifestRow(path, number, fields))
    return rows


def _read_csv(path: Path, text: str) -> list[ManifestRow]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    if not reader.fieldnames:
        return []
    rows = []
    for fields in reader:
        if None in fields:
            raise DataError(f"{path}:{reader.line_num}: more values than header columns")
        rows.append(ManifestRow(path, reader.line_num, {k: v for k, v in fields.items() if v not in (None, "")}))
    return rows


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read a ``.jsonl``/``.json`` (one object per line) or ``.csv``/``.tsv`` (header row) manifest.

    Raises:
        DataError: a missing or unreadable file, a malformed line, or no rows at all.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path}", hint="paths in the recipe are relative to the working directory")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _read_jsonl(path, text)
    elif suffix in (".csv", ".tsv"):
        rows = _read_csv(path, text)
    else:
        raise DataError(f"manifest {path}: unknown format '{suffix}'", hint="use .jsonl or .csv")
    if not rows:
        raise DataError(f"manifest {path} has no rows")
    return rows
