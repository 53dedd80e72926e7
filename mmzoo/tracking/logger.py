"""mmzoo's W&B logger: Lightning's ``WandbLogger``, given its run's settings and config by mmzoo.

Two differences from the logger Lightning ships:

- Lightning sends the ``LightningModule``'s hyperparameters at the start of every ``fit``,
  ``validate`` and ``test``. For :class:`~mmzoo.module.MultimodalModule` they are the recipe
  (``{"recipe": ...}``), which the run's config already holds, with every default filled in
  (:mod:`mmzoo.tracking.config`): logging them too would show the recipe twice. This logger takes
  its config only through :meth:`RunLogger.log_config`.
- Lightning never ends the W&B run; :meth:`RunLogger.finish` does, so that the next mmzoo run in the
  same process (a test after a fit, in a notebook) starts a W&B run of its own instead of writing
  into this one.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

from mmzoo.tracking.settings import WandbSettings

__all__ = ["RunLogger", "wandb_logger"]


class RunLogger(WandbLogger):
    """A ``WandbLogger`` writing into ``<run_dir>/wandb`` with the given settings.

    Args:
        settings: the run's resolved settings (:func:`~mmzoo.tracking.settings.resolve_settings`);
            their mode must not be ``disabled``.
        run_dir: the run directory.
    """

    def __init__(self, settings: WandbSettings, run_dir: Path) -> None:
        if not settings.enabled:
            raise ValueError("a disabled W&B run needs no logger")
        # The mode goes to wandb.init as it is: Lightning's own `offline=True` would refuse
        # log_model (offline runs do keep artifacts until `wandb sync`) and would set WANDB_MODE
        # for the rest of the process.
        # An absolute folder: a W&B service started by another process (whose WANDB_SERVICE this
        # process inherited) would read a relative one from its own working directory.
        super().__init__(
            save_dir=str(Path(run_dir).absolute()),
            offline=False,
            log_model=settings.log_model,
            **settings.init_arguments(),
        )
        # Lightning always passes `anonymous`, which this wandb release only warns about.
        self._wandb_init.pop("anonymous", None)
        self.settings = settings

    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        """Ignore Lightning's automatic hyperparameters (the module's recipe, already in the config)."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Add ``config`` to the W&B run's config (rank 0 only, like every logger call)."""
        super().log_hyperparams(dict(config))

    def finish(self, *, failed: bool) -> None:
        """End the W&B run, if it was started, marking it failed or finished."""
        if self._experiment is not None:
            self._experiment.finish(exit_code=1 if failed else 0)


def wandb_logger(trainer: Any) -> RunLogger | None:
    """The trainer's :class:`RunLogger`, if it has one."""
    return next((logger for logger in trainer.loggers if isinstance(logger, RunLogger)), None)
