from __future__ import annotations

from typing import Any, Literal, Optional

import pytest

from mmzoo.typecheck import check_value, describe_type


@pytest.mark.parametrize(
    "value, annotation",
    [
        (3, int),
        (3, float),
        (2.5, float),
        (True, bool),
        ("x", str),
        (None, Optional[int]),
        (None, int | None),
        ([1, 2], list[int]),
        ([1, 2.5], list[float]),
        ({"a": 1}, dict[str, int]),
        ("sum", Literal["sum", "mean"]),
        ([1, "a"], list[Any]),
        ([1, 2], tuple[int, int]),
        ([1, 2, 3], tuple[int, ...]),
        ("anything", Any),
    ],
)
def test_accepts(value, annotation):
    assert check_value(value, annotation) is None


@pytest.mark.parametrize(
    "value, annotation, expected",
    [
        ("3", int, "expected int, got the string '3'"),
        (True, int, "expected int, got the boolean true"),
        (1.5, int, "expected int, got the number 1.5"),
        (1, bool, "expected bool, got the integer 1"),
        (None, int, "expected int, got null"),
        ([1, "a"], list[int], "'1': expected int, got the string 'a'"),
        ({"a": {"b": "x"}}, dict[str, dict[str, int]], "'a.b': expected int, got the string 'x'"),
        ("max", Literal["sum", "mean"], "expected 'sum' | 'mean', got the string 'max'"),
        ([1], tuple[int, int], "expected tuple[int, int], got a list"),
        ({"a": "b"}, dict[str, int], "'a': expected int, got the string 'b'"),
        (3, list[int], "expected list[int], got the integer 3"),
    ],
)
def test_rejects_with_readable_message(value, annotation, expected):
    assert check_value(value, annotation) == expected


def test_describe_type_of_unions():
    assert describe_type(int | None) == "int | null"
    assert describe_type(list[float] | None) == "list[float] | null"


def test_dataclass_annotations_name_the_inner_key():
    from dataclasses import dataclass

    @dataclass
    class Field:
        type: Literal["audio", "text"]
        rate: int = 16000

    assert check_value({"audio": {"type": "audio"}}, dict[str, Field]) is None
    assert check_value({"audio": {"type": "audio", "rat": 1}}, dict[str, Field]) == (
        "'audio.rat': unknown key (did you mean 'rate'?); keys: type, rate"
    )
    assert check_value({"audio": {"rate": 1}}, dict[str, Field]) == "'audio.type': missing required key"
    assert check_value({"type": "video"}, Field | None) == "'type': expected 'audio' | 'text', got the string 'video'"
