"""Errors that mmzoo reports to its users.

Every :class:`MmzooError` is a *user error*: the command line prints its message (no traceback
unless ``--debug``) and exits with code 2. Anything else that escapes is an internal error and
exits with code 1.

This module must stay free of heavy imports: the CLI imports it before torch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MmzooError",
    "Problem",
    "RecipeError",
    "RegistryError",
    "DuplicateComponentError",
    "UnknownComponentError",
    "BuildError",
    "RunError",
    "RunInterrupted",
    "NonFiniteLossError",
    "DataError",
]


class MmzooError(Exception):
    """Base class of the errors caused by user input (recipes, overrides, data, plugins).

    Args:
        message: what is wrong, naming the file, key or component.
        hint: what the user can do about it (optional, printed on its own line).
    """

    #: The command line's exit status for this error.
    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The text the CLI prints: the message, then the hint if any."""
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Problem:
    """One problem found in a recipe.

    Attributes:
        key: dotted key path inside the recipe, e.g. ``model.fusion.hidden_dim``.
        message: what is wrong with it.
        location: ``file:line`` where the key was written, when known.
    """

    key: str
    message: str
    location: str | None = None

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class RecipeError(MmzooError):
    """A recipe could not be loaded or is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"recipe {source} has " if source else "recipe has "
        head += f"{count} problem{'s' if count != 1 else ''}:"
        body = "\n".join(f"  - {p.render()}" for p in self.problems)
        super().__init__(f"{head}\n{body}")


class RegistryError(MmzooError):
    """A plugin registered something invalid (duplicate name, bad factory)."""


class DuplicateComponentError(RegistryError):
    """Two plugins registered the same name for one kind of component."""


class UnknownComponentError(MmzooError):
    """A component name is not in the registry."""


class BuildError(MmzooError):
    """A component failed while being constructed from a valid recipe."""


class RunError(MmzooError):
    """A run could not start or continue: missing checkpoint, unusable run directory, bad data."""


class RunInterrupted(RunError):
    """A run stopped by a preemption signal (SIGTERM, SIGUSR1) after saving its state.

    The command line exits with :attr:`exit_code` (75, ``EX_TEMPFAIL``: try again later) instead of 2.
    """

    exit_code = 75


class NonFiniteLossError(MmzooError):
    """Training produced a NaN or infinite loss."""


class DataError(MmzooError):
    """A manifest or a file it points at is unusable: the message names the manifest, line and field."""
