"""The best checkpoints of a run, continued across resumes.

A resumed ``fit`` writes into a run directory of its own (runs never reuse one), so Lightning's
``ModelCheckpoint`` would forget the scores of the checkpoints the earlier run kept: its state is
restored only when the folder is the same. :class:`BestCheckpoints` restores it from any folder, so
the best checkpoint of a resumed run is the best of the whole training, which may be a file in the
earlier run's directory. Files outside this run's own folder are never deleted: a better checkpoint
replaces an earlier run's best in the ranking, not on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["BestCheckpoints"]


class BestCheckpoints(ModelCheckpoint):
    """``ModelCheckpoint`` that keeps ranking the checkpoints of the run it resumes."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_model_score = state_dict["best_model_score"]
        self.best_model_path = state_dict["best_model_path"]
        self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
        self.kth_value = state_dict.get("kth_value", self.kth_value)
        self.best_k_models = {
            path: score for path, score in state_dict.get("best_k_models", {}).items() if Path(path).exists()
        }

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if self.dirpath is not None and Path(filepath).resolve().parent == Path(self.dirpath).resolve():
            super()._remove_checkpoint(trainer, filepath)
