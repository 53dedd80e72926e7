"""The progress bar of ``mmzoo`` runs: Lightning's Rich bar, redrawn a few times a second.

Lightning's ``RichProgressBar`` collects the logged metrics and redraws after every training
batch. On a small model that is a measurable share of each step (about 1.7 ms of an 18 ms
quickstart step on a 2-core CPU, ``docs/benchmarks/lightning_overhead.md``); redrawn at most every
``interval`` seconds it costs next to nothing, and a person watching sees no difference.
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

__all__ = ["ThrottledRichProgressBar"]


class ThrottledRichProgressBar(RichProgressBar):
    """``RichProgressBar`` that redraws during training at most every ``interval`` seconds.

    The last batch of an epoch is always drawn, so the bar ends complete.

    Args:
        interval: seconds between two redraws while training.
        refresh_rate: redraws per second of Rich's own background refresh (Lightning's default, 100,
            keeps a second thread busy; the bar is also redrawn whenever it changes).
    """

    def __init__(self, interval: float = 0.25, refresh_rate: int = 1, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.interval = interval
        self._last_draw = float("-inf")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        last_batch = batch_idx + 1 >= self.total_train_batches
        if now - self._last_draw < self.interval and not last_batch:
            return
        self._last_draw = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        """Lightning's metrics plus the latest training loss (``MultimodalModule`` sends step values
        to the loggers itself, so they are not among Lightning's)."""
        metrics = super().get_metrics(trainer, pl_module)
        latest = getattr(pl_module, "latest_step_logs", {})
        if "train/loss_step" in latest:
            metrics["train/loss_step"] = latest["train/loss_step"]
        return metrics
