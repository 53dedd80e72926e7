"""Option annotations written as JSON and read back check YAML values exactly as the originals."""

from __future__ import annotations

import collections.abc
import enum
import json
import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

import pytest

from mmzoo.constraints import PositiveInt, Probability, Range
from mmzoo.typecheck import check_value, describe_type
from mmzoo.typeform import from_form, same_checks, to_form


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Inner:
    size: PositiveInt
    kind: Literal["a", "b"] = "a"


@dataclass
class Outer:
    inner: Inner
    extra: dict[str, float] = field(default_factory=dict)
    note: str | None = None


T = TypeVar("T")

ANNOTATIONS = [
    int,
    float,
    bool,
    str,
    None,
    type(None),
    Any,
    object,
    list,
    dict,
    tuple,
    PositiveInt,
    Probability,
    Annotated[float, Range(gt=0, lt=10)],
    Annotated[int, "not a range"],
    Literal["sum", "mean"],
    Literal[-1, 0, 1.5, True, None],
    Literal[Colour.RED],
    int | None,
    Optional[Union[int, str]],
    Literal[-1] | PositiveInt | None,
    list[int],
    list[PositiveInt | None],
    tuple[int, str],
    tuple[float, ...],
    Sequence[float],
    collections.abc.Iterable[str],
    Mapping[str, list[int]],
    dict[str, Inner],
    Outer,
    Optional[Outer],
    pathlib.Path,
    str | pathlib.Path,
    Callable[..., Any],
    T,
    "Unresolved",
]


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=describe_type)
def test_an_annotation_survives_json(annotation):
    form = json.loads(json.dumps(to_form(annotation)))
    rebuilt = from_form(form)
    assert describe_type(rebuilt) == describe_type(annotation)
    assert same_checks(annotation, rebuilt)


@pytest.mark.parametrize(
    "value, annotation",
    [
        ({"inner": {"size": 0}}, Outer),
        ({"inner": {"size": 2, "kind": "c"}}, Outer),
        ({"inner": {"size": 2}, "extra": {"a": "x"}}, Outer),
        ({"inner": {}}, Outer),
        ({"x": {"size": 1, "colour": 2}}, dict[str, Inner]),
        ([1, None, 0], list[PositiveInt | None]),
        ("red", Literal[Colour.RED]),
        ("x", pathlib.Path),
        (3, Callable[..., Any]),
    ],
)
def test_rebuilt_annotations_give_the_same_messages(value, annotation):
    assert check_value(value, from_form(to_form(annotation))) == check_value(value, annotation)


class _Even(type):
    def __instancecheck__(cls, value):
        return isinstance(value, int) and value % 2 == 0


class EvenInt(metaclass=_Even):
    """Accepts some integers and not others: more than a value's type decides."""


def test_an_annotation_that_looks_at_values_is_found_out():
    assert not same_checks(EvenInt, from_form(to_form(EvenInt)))


def test_a_stand_in_keeps_the_name_and_accepts_the_same_kinds():
    rebuilt = from_form(to_form(str | pathlib.Path))
    assert describe_type(rebuilt) == "str | Path"
    assert check_value("x", rebuilt) is None
    assert check_value(1, rebuilt) == "expected str | Path, got the integer 1"


def test_an_unknown_form_is_an_error():
    with pytest.raises(ValueError, match="not an annotation form"):
        from_form({"what": 1})
