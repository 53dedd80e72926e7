"""Option annotations as JSON, so that a recipe can be checked without importing its components.

:func:`mmzoo.typecheck.check_value` checks YAML values against annotations. The annotations
options use are few: ``None``, ``bool``, ``int``, ``float``, ``str``, ``Any``; ``Literal`` of
such values; unions; lists, tuples, sequences and mappings of annotations; ``Annotated`` with a
:class:`~mmzoo.constraints.Range`; and dataclasses of typed fields (such as a datamodule's
``ModalityField``). :func:`to_form` writes each of these as JSON and :func:`from_form` rebuilds
an annotation that ``check_value`` and ``describe_type`` treat exactly as the original.

Anything else (``nn.Module``, ``pathlib.Path``, ``Callable[..., T]``, a type variable...) is
recorded by what it is called and which kinds of YAML value it accepts (none, for most classes),
and comes back as a stand-in class that accepts those kinds under that name. That is exact
because ``check_value`` only ever asks such a class ``isinstance`` of a YAML value, which depends
on the value's type alone; :func:`same_checks` confirms it for every annotation before a cache
is written.

Why not pickle: unpickling imports the modules that define the classes, which is what the
cache is for avoiding.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from typing import Annotated, Any, Literal, Union

from mmzoo.constraints import Range, constraints_of
from mmzoo.typecheck import check_value, describe_type

__all__ = ["Form", "to_form", "from_form", "same_checks"]

#: The JSON form of an annotation (see the module docstring).
Form = Any

_SCALARS: dict[str, Any] = {
    "none": type(None),
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "object": object,
}
_SCALAR_NAMES = {id(value): name for name, value in _SCALARS.items()}
_CONTAINERS: dict[str, Any] = {
    "list": list,
    "tuple": tuple,
    "Sequence": collections.abc.Sequence,
    "Iterable": collections.abc.Iterable,
    "Collection": collections.abc.Collection,
    "dict": dict,
    "Mapping": collections.abc.Mapping,
    "MutableMapping": collections.abc.MutableMapping,
}
_CONTAINER_NAMES = {id(value): name for name, value in _CONTAINERS.items()}

#: One YAML value of each type: a stand-in class accepts the types whose sample its original accepted.
_KIND_SAMPLES: dict[str, Any] = {
    "null": None,
    "bool": True,
    "int": 1,
    "float": 0.5,
    "str": "x",
    "list": [],
    "mapping": {},
}


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "null"
    for kind, sample in _KIND_SAMPLES.items():
        if kind != "null" and type(value) is type(sample):
            return kind
    return "other"


class _StandIn(type):
    """The metaclass of stand-in classes: ``isinstance`` answers by the YAML value's type."""

    accepts: frozenset[str]

    def __instancecheck__(cls, value: Any) -> bool:
        return _yaml_kind(value) in cls.accepts


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _yaml_literal(value: Any) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def to_form(annotation: Any, _seen: tuple[type, ...] = ()) -> Form:
    """The JSON form of an annotation (see the module docstring)."""
    if annotation is inspect.Parameter.empty:
        return "empty"
    if annotation is Any:
        return "any"
    if annotation is None:
        return "none"
    if isinstance(annotation, type) and id(annotation) in _SCALAR_NAMES and typing.get_origin(annotation) is None:
        return _SCALAR_NAMES[id(annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        ranges = [dataclasses.asdict(c) for c in constraints_of(annotation)]
        return {"annotated": to_form(args[0], _seen), "ranges": ranges}
    if origin is Literal and all(_yaml_literal(a) for a in args):
        return {"literal": list(args)}
    if _is_union(origin):
        return {"union": [to_form(a, _seen) for a in args]}
    if origin is not None and id(origin) in _CONTAINER_NAMES and args:
        return {
            "container": _CONTAINER_NAMES[id(origin)],
            "args": ["..." if a is Ellipsis else to_form(a, _seen) for a in args],
        }
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type) and annotation not in _seen:
        hints = typing.get_type_hints(annotation, include_extras=True)
        fields = [
            [f.name, to_form(hints[f.name], (*_seen, annotation)), _has_default(f)]
            for f in dataclasses.fields(annotation)
        ]
        return {"dataclass": annotation.__name__, "fields": fields}
    accepts = sorted(kind for kind, sample in _KIND_SAMPLES.items() if check_value(sample, annotation) is None)
    return {"stand_in": describe_type(annotation), "accepts": accepts}


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


def from_form(form: Form) -> Any:
    """The annotation a form describes (see :func:`to_form`).

    Raises:
        ValueError: the form is not one :func:`to_form` writes.
    """
    if form == "empty":
        return inspect.Parameter.empty
    if form == "any":
        return Any
    if isinstance(form, str) and form in _SCALARS:
        return None if form == "none" else _SCALARS[form]
    if not isinstance(form, dict):
        raise ValueError(f"not an annotation form: {form!r}")
    if "annotated" in form:
        return (
            Annotated[(from_form(form["annotated"]), *(Range(**r) for r in form["ranges"]))]
            if form["ranges"]
            else from_form(form["annotated"])
        )
    if "literal" in form:
        return Literal[tuple(form["literal"])]
    if "union" in form:
        return Union[tuple(from_form(member) for member in form["union"])]
    if "container" in form:
        args = tuple(Ellipsis if a == "..." else from_form(a) for a in form["args"])
        return _CONTAINERS[form["container"]][args if len(args) > 1 else args[0]]
    if "dataclass" in form:
        fields = [
            (name, from_form(field_form), dataclasses.field(default=None) if has_default else dataclasses.field())
            for name, field_form, has_default in form["fields"]
        ]
        return dataclasses.make_dataclass(form["dataclass"], fields, kw_only=True)
    if "stand_in" in form:
        return _StandIn(form["stand_in"], (), {"accepts": frozenset(form["accepts"])})
    raise ValueError(f"not an annotation form: {form!r}")


def _probes(annotation: Any, default: Any) -> list[Any]:
    """YAML values (only those: recipes hold nothing else) that exercise every branch of
    ``check_value`` for typical option annotations."""
    values: list[Any] = [
        None, True, False, 0, 1, -1, 2, 0.5, 1.5, -0.5, float("inf"), "", "x",
        [], [1], [1, 2], [0.5, 0.5], ["a"], [None], [[1]], {}, {"a": 1}, {"a": "b"}, {"a": None}, {"a": {}},
    ]  # fmt: skip
    values.append(default)
    for arg in _nested_args(annotation):
        if typing.get_origin(arg) is Literal:
            values.extend(a for a in typing.get_args(arg) if _yaml_literal(a))
        if dataclasses.is_dataclass(arg) and isinstance(arg, type):
            fields = [f.name for f in dataclasses.fields(arg)]
            values += [{name: None for name in fields}, {"a": {name: 1 for name in fields}}, {"zz": 1}]
    return values


def _nested_args(annotation: Any, depth: int = 0) -> list[Any]:
    found = [annotation]
    if depth < 6:
        for arg in typing.get_args(annotation):
            found += _nested_args(arg, depth + 1)
    return found


def same_checks(annotation: Any, rebuilt: Any, default: Any = None) -> bool:
    """Whether ``rebuilt`` is described and checked as ``annotation`` is, on a set of probe values
    (``default``, the option's default in YAML form, among them)."""
    if describe_type(annotation) != describe_type(rebuilt):
        return False
    return all(check_value(value, annotation) == check_value(value, rebuilt) for value in _probes(annotation, default))
