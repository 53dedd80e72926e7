"""Value constraints on options, declared with :data:`typing.Annotated` where the option is declared.

A component's factory (or a recipe section's dataclass) states the range of a numeric option in its
signature, and everything that reads the signature honours it: recipe validation (a value out of
range is a validation error with its ``file:line``, before any run directory exists), ``mmzoo
plugins show`` (the type column reads ``int >= 1``) and the docs generated from the registry::

    from typing import Annotated
    from mmzoo.constraints import PositiveInt, Probability, Range

    def my_encoder(dim: PositiveInt = 64, dropout: Probability = 0.1,
                   temperature: Annotated[float, Range(gt=0, le=100)] = 1.0): ...

Every :class:`Range` also requires a finite number (no ``.nan`` or ``.inf`` from YAML). Booleans
are never numbers here, as everywhere in recipe checking.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Annotated, Any

__all__ = [
    "Range",
    "constraints_of",
    "PositiveInt",
    "NonNegativeInt",
    "PositiveFloat",
    "NonNegativeFloat",
    "Probability",
]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Range:
    """Bounds on a number: ``ge``/``gt`` below, ``le``/``lt`` above (any of them may be left out).

    The number must also be finite.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` (an int or float) is in range, else what it must be.

        Values that are not numbers pass: the type check reports those.
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number {self}".rstrip()
        if (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        ):
            return f"must be {self}"
        return None

    def __str__(self) -> str:
        low = (">=", self.ge) if self.ge is not None else (">", self.gt) if self.gt is not None else None
        high = ("<=", self.le) if self.le is not None else ("<", self.lt) if self.lt is not None else None
        if low and high:
            left = "[" if low[0] == ">=" else "("
            right = "]" if high[0] == "<=" else ")"
            return f"in {left}{_number(low[1])}, {_number(high[1])}{right}"
        bound = low or high
        return f"{bound[0]} {_number(bound[1])}" if bound else ""


def constraints_of(annotation: Any) -> list[Range]:
    """The :class:`Range` metadata of an ``Annotated`` annotation (empty for any other)."""
    if typing.get_origin(annotation) is Annotated:
        return [item for item in typing.get_args(annotation)[1:] if isinstance(item, Range)]
    return []


#: An integer of at least 1 (sizes, counts, dimensions).
PositiveInt = Annotated[int, Range(ge=1)]
#: An integer of at least 0 (worker counts, optional extra layers).
NonNegativeInt = Annotated[int, Range(ge=0)]
#: A number above 0 (scales, temperatures).
PositiveFloat = Annotated[float, Range(gt=0)]
#: A number of at least 0 (learning rates, weight decay, loss weights).
NonNegativeFloat = Annotated[float, Range(ge=0)]
#: A number in [0, 1] (dropout and other probabilities).
Probability = Annotated[float, Range(ge=0, le=1)]
