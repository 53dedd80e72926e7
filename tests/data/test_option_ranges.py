"""Every numeric option of a datamodule declares its range, and recipe validation enforces it."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

import pytest

from mmzoo.cli.main import EXIT_OK, EXIT_USER, main
from mmzoo.constraints import Range, constraints_of

from ..conftest import RECIPES

#: (datamodule, option) -> why a number there has no range. Empty: every number has one so far.
NO_RANGE: dict[tuple[str, str], str] = {}


def numbers_without_range(annotation: Any, where: str, seen: set[type] | None = None) -> list[str]:
    """The places inside an annotation where an ``int`` or ``float`` has no declared range."""
    seen = set() if seen is None else seen
    if annotation in (int, float):
        return [where]
    if typing.get_origin(annotation) is typing.Annotated:
        inner = typing.get_args(annotation)[0]
        return [] if constraints_of(annotation) else numbers_without_range(inner, where, seen)
    if typing.get_origin(annotation) is Literal:
        return []  # a closed set of values is as bounded as it gets
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if annotation in seen:
            return []
        seen.add(annotation)
        hints = typing.get_type_hints(annotation, include_extras=True)
        return [
            p
            for f in dataclasses.fields(annotation)
            for p in numbers_without_range(hints[f.name], f"{where}.{f.name}", seen)
        ]
    return [p for arg in typing.get_args(annotation) for p in numbers_without_range(arg, where, seen)]


def test_the_walk_finds_bare_numbers():
    assert numbers_without_range(dict[str, list[float]] | None, "x") == ["x"]
    assert numbers_without_range(typing.Annotated[int, "not a range"], "x") == ["x"]
    assert numbers_without_range(list[typing.Annotated[float, Range(ge=0)]] | Literal[1, 2], "x") == []


def test_every_numeric_datamodule_option_declares_its_range(registry):
    entries = [entry for entry in registry.entries("datamodule") if entry.factory.__module__.startswith("mmzoo.")]
    assert {entry.name for entry in entries} >= {"manifest", "speech_qc", "tones_and_words"}
    missing = [
        place
        for entry in entries
        for option in entry.options
        if (entry.name, option.name) not in NO_RANGE
        for place in numbers_without_range(option.annotation, f"{entry.name}.{option.name}")
    ]
    assert missing == [], "declare a Range (mmzoo.constraints) on these options, or allow-list them with a reason"


@pytest.mark.parametrize(
    "recipe, override, fragment",
    [
        ("quickstart.yaml", "data.batch_size=0", "data.batch_size: must be >= 1, got the integer 0"),
        ("quickstart.yaml", "data.batch_size=-1", "data.batch_size: must be >= 1, got the integer -1"),
        ("quickstart.yaml", "data.num_workers=-1", "data.num_workers: must be >= 0"),
        ("quickstart.yaml", "data.num_classes=9", "data.num_classes: must be in [2, 8]"),
        ("digits/image_text.yaml", "data.max_image_pixels=0", "data.max_image_pixels: must be >= 1"),
        ("digits/audio_text.yaml", "data.modalities.audio.sample_rate=0", "'audio.sample_rate': must be >= 1"),
        ("digits/image_text.yaml", "data.targets.match={num_classes: 0}", "'match.num_classes': must be >= 1"),
        ("speech_qc/audio_text.yaml", "data.eval_copies=0", "data.eval_copies: must be >= 1"),
        (
            "speech_qc/audio_text.yaml",
            "data.corruptions={truncate_fraction: [0.3, 1.0]}",
            "'truncate_fraction.1': must be in [0, 1), got the number 1.0",
        ),
        ("speech_qc/audio_text.yaml", "data.corruptions={snr_db: [0, .nan]}", "'snr_db.1': must be a finite number"),
    ],
)
def test_out_of_range_options_are_recipe_errors(capsys, recipe, override, fragment):
    assert main(["recipe", "check", str(RECIPES / recipe), override]) == EXIT_USER
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_null_turns_the_image_limit_off_in_a_recipe(capsys):
    assert (
        main(["recipe", "check", str(RECIPES / "digits" / "image_text.yaml"), "data.max_image_pixels=null"]) == EXIT_OK
    )
