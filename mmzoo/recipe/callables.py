"""The option schemas of what a recipe names besides components.

Besides registered components, a recipe configures ``lightning.Trainer`` (``trainer:``), a
strategy given as a mapping (``trainer.strategy``), ``torch.compile`` (``model.compile``), an
optimizer and a scheduler. Validation reads their options from :class:`CallableSchemas`, which
imports torch and Lightning to read the signatures, unless it was made from a cached
:meth:`~CallableSchemas.snapshot` (see :mod:`mmzoo.registry_cache`): names the snapshot does not
hold (a plugin's optimizer, say) are still read from their signature.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmzoo.registry import Option, Registry, schema_of

__all__ = ["Signature", "CallableSchemas"]

#: Keys of the schemas that are not optimizers or schedulers.
TRAINER = "trainer"
COMPILE = "compile"
STRATEGY = "strategy:"
OPTIMIZER = "optimizer:"
SCHEDULER = "scheduler:"


@dataclass(frozen=True)
class Signature:
    """The options a callable takes from a recipe.

    Attributes:
        options: in signature order. Options of a strategy or of ``torch.compile`` come from a
            table of types and are all marked required, but validation never asks for them.
        accepts_extra: whether it also takes ``**kwargs``.
    """

    options: tuple[Option, ...]
    accepts_extra: bool = False

    @classmethod
    def of(cls, factory: Any, context_args: tuple[str, ...]) -> Signature:
        options, accepts_extra, _ = schema_of(factory, context_args)
        return cls(options, accepts_extra)

    @classmethod
    def of_table(cls, table: Mapping[str, Any]) -> Signature:
        return cls(tuple(Option(name, annotation) for name, annotation in table.items()))

    def known(self) -> dict[str, Option]:
        return {option.name: option for option in self.options}


class CallableSchemas:
    """Schemas of the Trainer, strategies, ``torch.compile``, optimizers and schedulers.

    Args:
        registry: the components; an optimizer or scheduler may come from an installed plugin's package.
        known: schemas already read (a cached :meth:`snapshot`), by key.
    """

    def __init__(self, registry: Registry, known: Mapping[str, Signature] | None = None) -> None:
        self._registry = registry
        self._known: dict[str, Signature] = dict(known or {})

    def _get(self, key: str, read: Any) -> Signature:
        if key not in self._known:
            self._known[key] = read()
        return self._known[key]

    def trainer(self) -> Signature:
        """``lightning.Trainer``'s options."""

        def read() -> Signature:
            from lightning.pytorch import Trainer

            return Signature.of(Trainer, ())

        return self._get(TRAINER, read)

    def compile_options(self) -> Signature:
        """The ``torch.compile`` options ``model.compile`` may set."""

        def read() -> Signature:
            from mmzoo.scaling.compiling import COMPILE_OPTIONS

            return Signature.of_table(COMPILE_OPTIONS)

        return self._get(COMPILE, read)

    def strategies(self) -> dict[str, Signature]:
        """Strategies a recipe may configure with a mapping, by name, and their options."""
        if not any(key.startswith(STRATEGY) for key in self._known):
            from mmzoo.scaling.strategy import STRATEGY_OPTIONS

            for name, table in STRATEGY_OPTIONS.items():
                self._known[STRATEGY + name] = Signature.of_table(table)
        return {key.removeprefix(STRATEGY): sig for key, sig in self._known.items() if key.startswith(STRATEGY)}

    def _packages(self) -> set[str]:
        from mmzoo.optim import TRUSTED_PACKAGES

        return {*TRUSTED_PACKAGES, *self._registry.packages()}

    def optimizer(self, name: str) -> Signature:
        """An optimizer's options (without ``params``).

        Raises:
            ImportError, TypeError: as :func:`mmzoo.optim.resolve_optimizer`.
        """

        def read() -> Signature:
            from mmzoo.optim import resolve_optimizer

            return Signature.of(resolve_optimizer(name, self._packages()), ("params",))

        return self._get(OPTIMIZER + name, read)

    def scheduler(self, name: str) -> Signature:
        """A scheduler's options (without ``optimizer`` and ``total_steps``).

        Raises:
            ImportError, TypeError: as :func:`mmzoo.optim.resolve_scheduler`.
        """

        def read() -> Signature:
            from mmzoo.optim import resolve_scheduler

            return Signature.of(resolve_scheduler(name, self._packages())[0], ("optimizer", "total_steps"))

        return self._get(SCHEDULER + name, read)

    def snapshot(self) -> dict[str, Signature]:
        """Every schema that needs no plugin: the Trainer, strategies, ``torch.compile``, the
        optimizers by short name and every optimizer and scheduler class of ``torch.optim`` by
        dotted path, and the built-in schedulers."""
        import inspect

        import torch

        from mmzoo.optim import OPTIMIZERS, SCHEDULERS

        self.trainer()
        self.compile_options()
        self.strategies()
        optimizers = [*OPTIMIZERS]
        optimizers += [
            f"torch.optim.{name}"
            for name, value in vars(torch.optim).items()
            if inspect.isclass(value)
            and issubclass(value, torch.optim.Optimizer)
            and value is not torch.optim.Optimizer
        ]
        schedulers = [*SCHEDULERS]
        base = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        schedulers += [
            f"torch.optim.lr_scheduler.{name}"
            for name, value in vars(torch.optim.lr_scheduler).items()
            if inspect.isclass(value) and issubclass(value, base) and value is not torch.optim.lr_scheduler.LRScheduler
        ]
        for name in optimizers:
            with contextlib.suppress(ImportError, TypeError, ValueError):
                self.optimizer(name)
        for name in schedulers:
            with contextlib.suppress(ImportError, TypeError, ValueError):
                self.scheduler(name)
        keep = {TRAINER, COMPILE, *(OPTIMIZER + n for n in optimizers), *(SCHEDULER + n for n in schedulers)}
        return {key: sig for key, sig in self._known.items() if key in keep or key.startswith(STRATEGY)}
