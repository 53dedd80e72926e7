"""What mmzoo's commands print: third-party noise left out, and progress for long steps.

Lightning, W&B and torch print lines that say nothing to someone running a recipe (tips for other
products, deprecation notices of their own internals, hints about W&B's terminal viewer).
:func:`quiet_third_party` hides exactly those for the duration of a command; ``MMZOO_VERBOSE=1``
turns the hiding off, so that everything they print shows again.

:func:`track` gives a long loop a progress bar: Rich's on a terminal, and a few plain lines
otherwise (no escape codes in a log file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sized
from datetime import timedelta
from typing import TextIO, TypeVar

__all__ = ["VERBOSE_ENV", "QUIET_ENVIRONMENT", "is_verbose", "is_terminal", "quiet_third_party", "track"]

#: Set to ``1`` (or ``true``, ``yes``) to see every third-party message mmzoo would hide.
VERBOSE_ENV = "MMZOO_VERBOSE"

#: Environment variables set for a command, unless already set: W&B then prints nothing of its own
#: (version banner, sync hints, the ``wandb leet`` hint, the closing summary). The run directory
#: that mmzoo prints holds the W&B run in ``wandb/``.
QUIET_ENVIRONMENT: dict[str, str] = {"WANDB_SILENT": "true"}

#: Warnings hidden during a command, by message (a regular expression matched at its start).
_HIDDEN_WARNINGS: tuple[str, ...] = (
    # torchdata's StatefulDataLoader calls a torch function that torch deprecates; nothing to act on.
    r"'set_vital' is deprecated",
    # Each run directory is new; Lightning's CSV logger only sees recipe.yaml already in it.
    r".*Experiment logs directory .* exists and is not empty",
    # The built-in datamodules hold their rows in memory; workers would only add start-up time.
    r".*does not have many workers",
    # Raised inside Lightning itself with recent torch releases.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # FSDP2 warns when a sharded module returns a view (a pooled CLS row, a passed-through mask) in
    # case the caller modifies it in place; MultimodalModule never modifies outputs in place.
    r".*FSDP2-wrapped module .* returned a view tensor",
    # MultimodalModule moves its own Batch to the device (only the tensors), on purpose.
    r".*overridden `transfer_batch_to_device` in `LightningModule`",
)

#: Lightning's informational lines hidden during a command, by message (matched at its start).
_HIDDEN_LIGHTNING_LINES: tuple[str, ...] = (
    r"💡 Tip: .*litlogger",  # an advertisement for another logging product
    r"(TPU|HPU) available: False",  # hardware this machine does not have
)

#: Loggers whose informational messages are hidden: Lightning's checkpoint connector says
#: "`weights_only` was not set, defaulting to `False`" when a checkpoint is saved without that
#: argument (a full checkpoint, which is what mmzoo saves).
_QUIET_LOGGERS: tuple[str, ...] = ("lightning.pytorch.trainer.connectors.checkpoint_connector",)

#: The logger Lightning's ``rank_zero_info`` writes to.
_LIGHTNING_INFO_LOGGER = "lightning.pytorch.utilities.rank_zero"

T = TypeVar("T")


def is_verbose() -> bool:
    """Whether ``MMZOO_VERBOSE`` asks to see every third-party message."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that understands escape codes (not a file, pipe or ``TERM=dumb``)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except ValueError:  # a closed stream
        return False


class _HideLines(logging.Filter):
    """Drops log records whose message matches one of the patterns."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Hide third-party output that says nothing to an mmzoo user, for the duration of the block.

    Hidden: the warnings in ``_HIDDEN_WARNINGS`` (torchdata's ``set_vital`` deprecation, warnings
    that mmzoo's own set-up triggers on purpose); Lightning's litlogger tip and its lines about
    absent TPUs and HPUs; Lightning's ``weights_only`` notice; W&B's own terminal output
    (``WANDB_SILENT``, unless the environment sets it). Warning filters, loggers and environment
    variables are restored afterwards.

    With ``MMZOO_VERBOSE=1`` nothing is hidden.
    """
    if is_verbose():
        yield
        return
    saved_environment = {name: os.environ.get(name) for name in QUIET_ENVIRONMENT}
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    info_logger = logging.getLogger(_LIGHTNING_INFO_LOGGER)
    hide = _HideLines(_HIDDEN_LIGHTNING_LINES)
    info_logger.addFilter(hide)
    quiet_loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in quiet_loggers]
    for logger in quiet_loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in _HIDDEN_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger, level in zip(quiet_loggers, levels, strict=True):
            logger.setLevel(level)
        info_logger.removeFilter(hide)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _elapsed(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def track(
    items: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    stream: TextIO | None = None,
    interval: float = 30.0,
) -> Iterator[T]:
    """Yield ``items``, showing how far the loop has got.

    On a terminal, a Rich progress bar (count, elapsed and remaining time). Anywhere else (a log
    file, a pipe), plain ``mmzoo: <description>: ...`` lines without escape codes: one when the loop
    starts, one every ``interval`` seconds, and one when it ends.

    Args:
        items: what the loop goes through.
        description: what the loop does, e.g. ``measuring the training rows``.
        total: the number of items; needed when ``items`` has no ``len()``.
        stream: where to write; defaults to standard error (standard output keeps the results).
        interval: seconds between two plain lines.

    Raises:
        TypeError: no ``total`` for items without a length.
    """
    out = sys.stderr if stream is None else stream
    if total is None and not isinstance(items, Sized):
        raise TypeError("track() needs `total` for items without a length")
    count = total if total is not None else len(items)  # type: ignore[arg-type]
    if is_terminal(out):
        yield from _rich_track(items, description, count, out)
        return
    start = last = time.monotonic()
    print(f"mmzoo: {description} ({count} in all)", file=out, flush=True)
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= interval and done < count:
            last = now
            share = f" ({done / count:.0%})" if count else ""
            print(f"mmzoo: {description}: {done}/{count}{share}, {_elapsed(now - start)}", file=out, flush=True)
    print(f"mmzoo: {description}: done, {done} in {_elapsed(time.monotonic() - start)}", file=out, flush=True)


def _rich_track(items: Iterable[T], description: str, total: int, out: TextIO) -> Iterator[T]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=out)) as progress:
        yield from progress.track(items, total=total, description=description)
