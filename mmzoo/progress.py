"""The progress bar and model summary of ``mmzoo`` runs.

:class:`ThrottledRichProgressBar` is Lightning's Rich bar, redrawn a few times a second. Lightning's
``RichProgressBar`` collects the logged metrics and redraws after every training batch. On a small
model that is a measurable share of each step (about 1.7 ms of an 18 ms quickstart step on a 2-core
CPU, ``docs/benchmarks/lightning_overhead.md``); redrawn at most every ``interval`` seconds it
costs next to nothing, and a person watching sees no difference. It shows the training loss and
the metric that picks the best checkpoint. When the output is not a terminal (a log file, a pipe),
it writes one plain line per epoch instead of the bar, which Rich would draw there only once, when
training ends.

:class:`QuietModelSummary` is Lightning's Rich model summary without its FLOPs, which Lightning
cannot count for mmzoo's modules.
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch.callbacks import RichModelSummary, RichProgressBar
from rich import get_console

from mmzoo.module import MultimodalModule

__all__ = ["ThrottledRichProgressBar", "QuietModelSummary"]

#: The training loss the bar shows: the latest logged step (``MultimodalModule.latest_step_logs``).
STEP_LOSS = "train/loss_step"

#: Lightning's progress-bar values the bar leaves out: the logger's run id (mmzoo prints the run
#: directory instead) and the previous epoch's mean loss (``loss`` is the current one), so that
#: the bar fits on one line of a terminal.
_LEFT_OUT = ("v_num", "train/loss_epoch")


class ThrottledRichProgressBar(RichProgressBar):
    """``RichProgressBar`` that redraws during training at most every ``interval`` seconds.

    The last batch of an epoch is always drawn, so the bar ends complete. The bar shows ``loss``
    (the latest training loss), Lightning's progress-bar metrics (``val/loss``...) and
    ``monitor``.

    Args:
        interval: seconds between two redraws while training.
        refresh_rate: redraws per second of Rich's own background refresh (Lightning's default, 100,
            keeps a second thread busy; the bar is also redrawn whenever it changes).
        monitor: a logged metric to show, e.g. ``val/label/accuracy``; by default the ``monitor``
            of the trainer's checkpoint callback (the recipe's ``checkpoint.monitor``), if any.
    """

    def __init__(
        self, interval: float = 0.25, refresh_rate: int = 1, monitor: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.interval = interval
        self.monitor = monitor
        self._last_draw = float("-inf")
        self._epoch_start = 0.0  # set when each training epoch starts

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        last_batch = batch_idx + 1 >= self.total_train_batches
        if now - self._last_draw < self.interval and not last_batch:
            return
        self._last_draw = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def monitored(self, trainer: Any) -> str | None:
        """The name of the metric shown besides the loss."""
        if self.monitor is not None:
            return self.monitor
        checkpoint = trainer.checkpoint_callback
        return checkpoint.monitor if checkpoint is not None else None

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        """``loss`` (``MultimodalModule`` sends step values to the loggers itself, so they are not
        among Lightning's), Lightning's progress-bar metrics and the monitored metric."""
        metrics: dict[str, Any] = {}
        if isinstance(pl_module, MultimodalModule) and STEP_LOSS in pl_module.latest_step_logs:
            metrics["loss"] = pl_module.latest_step_logs[STEP_LOSS]
        for name, value in super().get_metrics(trainer, pl_module).items():
            if name not in _LEFT_OUT:
                metrics[name] = value
        monitor = self.monitored(trainer)
        if monitor and monitor not in metrics and monitor in trainer.callback_metrics:
            metrics[monitor] = float(trainer.callback_metrics[monitor])
        return metrics

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch_start = time.monotonic()
        super().on_train_epoch_start(trainer, pl_module)

    @staticmethod
    def draws_live() -> bool:
        """Whether Rich animates the bar: on a terminal or in Jupyter, not in a file or pipe."""
        console = get_console()
        return console.is_terminal or console.is_jupyter

    def _init_progress(self, trainer: Any) -> None:
        super()._init_progress(trainer)
        if self.progress is not None and not self.draws_live():
            # A file gets the plain epoch lines instead of the bar Rich would draw once at the end
            # (squeezed into 80 columns).
            self.progress.live.transient = True

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.is_enabled and not self.draws_live():
            get_console().print(self.epoch_line(trainer, pl_module), markup=False, highlight=False, soft_wrap=True)

    def epoch_line(self, trainer: Any, pl_module: Any) -> str:
        """One plain line about the epoch that ended: batches, time and the bar's metrics."""
        metrics = ", ".join(
            f"{name} {value:{self.theme.metrics_format}}" if isinstance(value, float) else f"{name} {value}"
            for name, value in self.get_metrics(trainer, pl_module).items()
        )
        seconds = time.monotonic() - self._epoch_start
        took = f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
        done = f"{self.train_progress_bar.completed:.0f}" if self.train_progress_bar_id is not None else "?"
        description = self._get_train_description(trainer.current_epoch).strip()
        return f"{description}: {done} batches in {took}" + (f"; {metrics}" if metrics else "")


class QuietModelSummary(RichModelSummary):
    """Lightning's Rich model summary, without the FLOPs column and total when they are 0.

    Lightning counts FLOPs by running the module's ``example_input_array``. ``MultimodalModule``
    has none (its input is a multimodal ``Batch``), so Lightning's summary would end every table
    with ``FLOPs`` 0 and ``Total FLOPs: 0``. When the count is not 0, Lightning's summary is shown
    unchanged.
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        from lightning.pytorch.utilities.model_summary.model_summary import (
            get_formatted_model_size,
            get_human_readable_count,
        )
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            if name == " ":
                table.add_column(name, style="dim")
            elif name in ("Name", "Type", "Mode"):
                table.add_column(name, justify="left", no_wrap=name == "Name")
            else:
                table.add_column(name, justify="right")
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        grid = Table.grid()
        grid.add_column()
        for label, value in (
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            ("Non-trainable params", get_human_readable_count(int(total_parameters - trainable_parameters))),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", str(total_training_modes["train"])),
            ("Modules in eval mode", str(total_training_modes["eval"])),
        ):
            grid.add_row(f"[bold]{label}[/]: {value}")
        console = get_console()
        console.print(table)
        console.print(grid)
