"""Write ``predict_step`` rows to a JSON Lines file as batches complete; resume a cut-off file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import BasePredictionWriter

__all__ = ["JsonlPredictionWriter", "read_jsonl", "repair_jsonl"]


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of a prediction file that a killed run may have cut off, and its valid byte length.

    A last line that is not a whole JSON object (a write cut short) is left out; a bad line
    anywhere else means the file is not one of ours, and raises. A missing file has no rows.

    Raises:
        ValueError: a bad line before the last one (the message gives ``file:line``).
    """
    path = Path(path)
    lines = path.read_bytes().splitlines(keepends=True) if path.is_file() else []
    rows: list[dict[str, Any]] = []
    end = 0
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line) if line.strip() else None
            if row is not None and not (isinstance(row, dict) and "id" in row):
                raise ValueError("not a row with an id")
        except ValueError as error:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: corrupt line ({error})") from error
        if row is not None:
            rows.append(row)
        end += len(line)
    return rows, end


def repair_jsonl(path: Path) -> list[dict[str, Any]]:
    """Cut a prediction file after its last whole row (creating it if missing), ready to append to.

    Returns:
        the rows it keeps.
    """
    path = Path(path)
    rows, end = read_jsonl(path)
    path.touch()
    with path.open("r+b") as handle:
        handle.truncate(end)
        if end:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
    return rows


class JsonlPredictionWriter(BasePredictionWriter):
    """Appends one JSON object per row to ``path`` after every prediction batch.

    With several processes, rank ``r > 0`` writes ``<stem>.rank<r>.jsonl`` beside ``path``. With
    ``resume``, an existing file is continued instead of started afresh, and rows whose ids it
    holds are not written again. Subclasses reshape rows by overriding :meth:`rows`. A
    :class:`~mmzoo.contracts.datamodule.PredictionWriter`: :attr:`output` is ``path``.
    """

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.path = Path(path)
        self.output = self.path
        self.resume = resume
        self._written: set[str] = set()

    def completed_ids(self) -> set[str]:
        """Ids of the rows already written (repairing a cut-off last line); empty unless resuming."""
        if not (self.resume and self.path.is_file()):
            return set()
        return {str(row["id"]) for row in repair_jsonl(self.path)}

    def rows(self, prediction: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """The rows to write for one batch of ``predict_step`` rows (default: as they are)."""
        return prediction

    def _target(self, trainer: Any) -> Path:
        rank = trainer.global_rank
        return self.path if rank == 0 else self.path.with_name(f"{self.path.stem}.rank{rank}{self.path.suffix}")

    def _append(self, path: Path, rows: Sequence[dict[str, Any]]) -> None:
        with path.open("a", encoding="utf-8") as handle:
            for row in rows:
                if str(row["id"]) not in self._written:
                    self._written.add(str(row["id"]))
                    handle.write(json.dumps(row) + "\n")
            handle.flush()

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        target = self._target(trainer)
        if self.resume and target.is_file():
            self._written = {str(row["id"]) for row in repair_jsonl(target)}
        else:
            self._written = set()
            target.write_text("", encoding="utf-8")

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: Sequence[dict[str, Any]],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        self._append(self._target(trainer), self.rows(prediction))
