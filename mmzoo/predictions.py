"""Write ``predict_step`` rows to a JSON Lines file as batches complete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import BasePredictionWriter

__all__ = ["JsonlPredictionWriter"]


class JsonlPredictionWriter(BasePredictionWriter):
    """Appends one JSON object per row to ``path`` after every prediction batch.

    With several processes, rank ``r > 0`` writes ``<stem>.rank<r>.jsonl`` beside ``path``.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(write_interval="batch")
        self.path = Path(path)

    def _target(self, trainer: Any) -> Path:
        rank = trainer.global_rank
        return self.path if rank == 0 else self.path.with_name(f"{self.path.stem}.rank{rank}{self.path.suffix}")

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._target(trainer).write_text("", encoding="utf-8")

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
        with self._target(trainer).open("a", encoding="utf-8") as handle:
            for row in prediction:
                handle.write(json.dumps(row) + "\n")
