"""Check recipe values against the type annotations of component factories.

Recipe values come from YAML, so they are only ever ``None``, ``bool``, ``int``, ``float``,
``str``, lists and string-keyed mappings. That small universe is why mmzoo checks them itself
instead of going through a general validation library: the checks stay strict (no silent
``"3" -> 3`` coercion), fast, and the messages speak of YAML values ("expected an integer, got the
string 'abc'"), which is what a recipe author needs to see.

A dataclass annotation accepts a mapping whose keys are its fields, each of the field's type; the
message then names the inner key that is wrong. Annotations that YAML can never satisfy (say ``nn.Module``) simply fail to match; a ``Union`` matches
when any member does. ``typing.Any`` and missing annotations accept everything.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import inspect
import types
import typing
from typing import Any, Literal, Union

from mmzoo.constraints import constraints_of

__all__ = ["NO_YAML", "check_value", "describe_type", "describe_value", "yaml_form", "yaml_text"]

_SEQUENCE_ORIGINS = (
    list,
    tuple,
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Collection,
)
_MAPPING_ORIGINS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def describe_value(value: Any) -> str:
    """A short description of a YAML value for error messages, e.g. ``the string 'abc'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def describe_type(annotation: Any) -> str:
    """A readable name for an annotation, e.g. ``int``, ``list[float]``, ``'sum' | 'mean'``,
    ``int >= 1`` (with its :class:`~mmzoo.constraints.Range`)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return "any"
    if annotation is type(None) or annotation is None:
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        bounds = " ".join(str(c) for c in constraints_of(annotation))
        return f"{describe_type(args[0])} {bounds}".rstrip()
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return " | ".join(describe_type(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if args:
            return f"{name}[{', '.join(describe_type(a) for a in args if a is not Ellipsis)}]"
        return name
    return getattr(annotation, "__name__", str(annotation))


#: What :func:`yaml_form` returns for a value that YAML cannot write (an object, a function).
NO_YAML: Any = object()


def yaml_form(value: Any) -> Any:
    """``value`` as a recipe would write it (tuples become lists), or :data:`NO_YAML`.

    Python defaults are compared with their annotation in this form: a default of ``(32, 32)`` for
    ``Sequence[int]`` is the list a recipe writes.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [yaml_form(item) for item in value]
        return NO_YAML if any(item is NO_YAML for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        entries = {key: yaml_form(item) for key, item in value.items()}
        return NO_YAML if any(item is NO_YAML for item in entries.values()) else entries
    return NO_YAML


def yaml_text(value: Any) -> str:
    """A value as a recipe writes it, on one line (``null``, ``true``, ``[a, b]``, ``{x: 1}``).

    Tuples are written as lists; a value YAML cannot write is shown as its ``repr``.
    """
    import yaml

    form = yaml_form(value)
    if form is NO_YAML:
        return repr(value)
    return yaml.safe_dump(form, default_flow_style=True, sort_keys=False).strip().removesuffix("...").strip()


def check_value(value: Any, annotation: Any) -> str | None:
    """Check a YAML value against a type annotation.

    Args:
        value: the value as loaded from YAML.
        annotation: a resolved annotation (``int``, ``list[str]``, ``Literal['a', 'b']`` ...).

    Returns:
        ``None`` when the value fits, otherwise a message such as
        ``expected int, got the string 'abc'``.
    """
    if _matches(value, annotation):
        return None
    out_of_range = _range_problem(value, annotation)
    if out_of_range:
        return out_of_range
    return (
        _explain_nested(value, annotation, "") or f"expected {describe_type(annotation)}, got {describe_value(value)}"
    )


def _range_problem(value: Any, annotation: Any) -> str | None:
    """The message for a value of the right type that breaks a declared :class:`~mmzoo.constraints.Range`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated and _matches(value, args[0]):
        for constraint in constraints_of(annotation):
            problem = constraint.check(value)
            if problem:
                return f"{problem}, got {describe_value(value)}"
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        # Only when the value's type fits one member alone does that member's range explain it; with
        # several candidates (``-1 | int >= 1``) the whole type is the clearer message.
        fitting = [member for member in args if _could_hold(value, member)]
        if len(fitting) == 1:
            return _range_problem(value, fitting[0])
    return None


def _could_hold(value: Any, member: Any) -> bool:
    """Whether a union member is of the value's type (a ``Literal`` of the same type counts)."""
    if typing.get_origin(member) is Literal:
        return any(type(value) is type(option) for option in typing.get_args(member))
    return _matches(value, _base(member))


def _base(annotation: Any) -> Any:
    """The type under an ``Annotated`` annotation (the annotation itself otherwise)."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _dataclass_problem(value: dict[str, Any], cls: Any, path: str) -> str | None:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"'{where}': unknown key{hint}; keys: {', '.join(fields)}"
        if not _matches(item, hints[key]):
            nested = _range_problem(item, hints[key]) or _explain_nested(item, hints[key], where)
            if nested and not nested.startswith("'"):
                nested = f"'{where}': {nested}"
            return nested or f"'{where}': expected {describe_type(hints[key])}, got {describe_value(item)}"
    for name, f in fields.items():
        if name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            where = f"{path}.{name}" if path else name
            return f"'{where}': missing required key"
    return None


def _explain_nested(value: Any, annotation: Any, path: str) -> str | None:
    """A precise message for a mapping that fails a dataclass annotation (possibly inside
    ``dict[str, ...]``, ``list[...]`` or ``Optional``), naming the inner key; ``None`` otherwise."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        return _dataclass_problem(value, annotation, path)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1:
            return _explain_nested(value, candidates[0], path)
    if origin in _MAPPING_ORIGINS and isinstance(value, dict) and len(args) == 2:
        for key, item in value.items():
            if not _matches(item, args[1]):
                where = f"{path}.{key}" if path else str(key)
                inner = _range_problem(item, args[1]) or _explain_nested(item, args[1], where)
                return (f"'{where}': {inner}" if inner and not inner.startswith("'") else inner) or (
                    f"'{where}': expected {describe_type(args[1])}, got {describe_value(item)}"
                )
    if origin in _SEQUENCE_ORIGINS and isinstance(value, list) and args and origin is not tuple:
        for index, item in enumerate(value):
            if not _matches(item, args[0]):
                where = f"{path}.{index}" if path else str(index)
                inner = _range_problem(item, args[0]) or _explain_nested(item, args[0], where)
                return (f"'{where}': {inner}" if inner and not inner.startswith("'") else inner) or (
                    f"'{where}': expected {describe_type(args[0])}, got {describe_value(item)}"
                )
    return None


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _matches(value, args[0]) and all(c.check(value) is None for c in constraints_of(annotation))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin in _SEQUENCE_ORIGINS:
        if not isinstance(value, list):
            return False
        if origin is tuple and args:
            if len(args) == 2 and args[1] is Ellipsis:
                return all(_matches(v, args[0]) for v in value)
            return len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    if origin in _MAPPING_ORIGINS:
        if not isinstance(value, dict):
            return False
        if len(args) == 2:
            return all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
        return True
    if isinstance(annotation, typing.TypeVar):
        return True
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return isinstance(value, dict) and _dataclass_problem(value, annotation, "") is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation in (list, tuple) or annotation in _SEQUENCE_ORIGINS:
        return isinstance(value, list)
    if annotation in (dict,) or annotation in _MAPPING_ORIGINS:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    # An annotation we cannot interpret (a string forward reference that failed to resolve, a
    # protocol...): do not block the user on our own limits.
    return True
