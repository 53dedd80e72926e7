"""A bad manifest row: what ``on_bad_sample: error`` stops on, and ``skip`` drops and lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["BadRow", "default_id"]


def default_id(manifest: Path, line: int) -> str:
    """The id of a row without one: ``<manifest file name>:<line>``."""
    return f"{manifest.name}:{line}"


@dataclass(frozen=True)
class BadRow:
    """One problem with one manifest line (a row may have several).

    Attributes:
        manifest: the manifest file.
        line: 1-based line number in it.
        id: the row's id; :func:`default_id` for a line that could not be read as a row.
        field: the manifest field at fault; empty when it is the line as a whole.
        problem: what is wrong (and, where it helps, what to do about it).
    """

    manifest: Path
    line: int
    id: str
    field: str
    problem: str

    @property
    def where(self) -> str:
        return f"{self.manifest}:{self.line}"

    def render(self) -> str:
        """``<manifest>:<line>: field '<field>': <problem>`` (without the field part when empty)."""
        field = f"field '{self.field}': " if self.field else ""
        return f"{self.where}: {field}{self.problem}"

    def record(self, split: str) -> dict[str, str]:
        """Its line in ``skipped_rows.jsonl``."""
        return {"split": split, "row": self.where, "id": self.id, "field": self.field, "problem": self.problem}
