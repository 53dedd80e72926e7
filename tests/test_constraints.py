"""Value ranges (``mmzoo.constraints``): their messages, how they read, and that every built-in
component declares them on its numeric options."""

from __future__ import annotations

import inspect
import math
import typing
from typing import Annotated, Any, Literal

import pytest

from mmzoo.cli.main import EXIT_OK, main
from mmzoo.constraints import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Range,
    constraints_of,
)
from mmzoo.plugins import load_registry
from mmzoo.recipe.validate import OPTIMIZER_RANGES, TRAINER_RANGES
from mmzoo.registry import CONTEXT_ARGS, REQUIRED, Entry
from mmzoo.typecheck import check_value, describe_type

_REGISTRY = load_registry(warn=False)
_ENTRIES = list(_REGISTRY.entries())
#: Built-in components whose ranges this file checks (datamodules have their own checks).
_BUILTIN = [e for e in _ENTRIES if e.factory.__module__.startswith("mmzoo.") and e.kind != "datamodule"]

#: Numeric options that legitimately take any number, so declare no range: (kind, name, option) -> why.
ANY_NUMBER: dict[tuple[str, str, str], str] = {
    # Logit biases and log-variances are real numbers of either sign.
    ("objective", "siglip", "init_bias"): "a logit bias (SigLIP starts at -10)",
    ("weighting", "uncertainty", "init_log_variance"): "a log-variance (0 gives weight 1)",
    # Decibels are relative: cuts and boosts, noise quieter or louder than the signal.
    ("transform", "gain", "min_db"): "a gain in dB, negative for a cut",
    ("transform", "gain", "max_db"): "a gain in dB, negative for a cut",
    ("transform", "add_noise", "snr_db"): "signal-to-noise ratios in dB, negative when the noise is louder",
    ("transform", "normalize", "target_db"): "a level in dB relative to 1.0, on either side of it",
    # Statistics of whatever value scale the images have.
    ("transform", "image_normalize", "mean"): "per-channel means",
}


def _unranged_number(annotation: Any) -> bool:
    """Whether an annotation lets an ``int`` or ``float`` through without a declared :class:`Range`."""
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return not constraints_of(annotation) and _unranged_number(typing.get_args(annotation)[0])
    if origin is Literal:
        return False
    return any(_unranged_number(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)


def _as_yaml(value: Any) -> Any:
    """A Python default as a recipe would write it (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [_as_yaml(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_yaml(item) for key, item in value.items()}
    return value


# -- Range and describe_type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "constraint, value, message",
    [
        (Range(ge=1), 0, "must be >= 1"),
        (Range(ge=1), 1, None),
        (Range(gt=0), 0.0, "must be > 0"),
        (Range(le=30), 31, "must be <= 30"),
        (Range(lt=1), 1.0, "must be < 1"),
        (Range(ge=0, le=1), 1.5, "must be in [0, 1]"),
        (Range(gt=0, lt=1), 0, "must be in (0, 1)"),
        (Range(ge=0, lt=1), 0, None),
        (Range(ge=0.5, le=2.5), 3, "must be in [0.5, 2.5]"),
        (Range(ge=0), math.nan, "must be a finite number >= 0"),
        (Range(ge=0, le=1), math.inf, "must be a finite number in [0, 1]"),
        (Range(), -math.inf, "must be a finite number"),
        (Range(), -1e300, None),
        (Range(ge=1), True, None),  # not a number here: the type check reports booleans
        (Range(ge=1), "3", None),
    ],
)
def test_range_check(constraint, value, message):
    assert constraint.check(value) == message


@pytest.mark.parametrize(
    "annotation, text",
    [
        (PositiveInt, "int >= 1"),
        (NonNegativeInt, "int >= 0"),
        (PositiveFloat, "float > 0"),
        (NonNegativeFloat, "float >= 0"),
        (Probability, "float in [0, 1]"),
        (Annotated[float, Range(gt=0, lt=1)], "float in (0, 1)"),
        (Annotated[int, Range(ge=0, le=30)], "int in [0, 30]"),
        (Annotated[float, Range(ge=0.5, le=2.5)], "float in [0.5, 2.5]"),
        (Annotated[float, Range()], "float"),
        (PositiveInt | None, "int >= 1 | null"),
        (list[PositiveFloat], "list[float > 0]"),
        (dict[str, NonNegativeFloat] | None, "dict[str, float >= 0] | null"),
        (Literal[-1] | PositiveInt, "-1 | int >= 1"),
        (TRAINER_RANGES["max_epochs"], "-1 | int >= 1 | null"),
        (TRAINER_RANGES["limit_val_batches"], "int >= 0 | float in [0, 1] | null"),
        (OPTIMIZER_RANGES["betas"], "tuple[float in [0, 1), float in [0, 1)]"),
    ],
)
def test_describe_type_prints_ranges(annotation, text):
    assert describe_type(annotation) == text


def test_constraints_of():
    assert constraints_of(PositiveInt) == [Range(ge=1)]
    assert constraints_of(Annotated[float, "a note", Range(gt=0)]) == [Range(gt=0)]
    assert constraints_of(int) == [] and constraints_of(PositiveInt | None) == []


@pytest.mark.parametrize(
    "value, annotation, message",
    [
        (0, PositiveInt, "must be >= 1, got the integer 0"),
        (1.5, Probability, "must be in [0, 1], got the number 1.5"),
        (math.nan, NonNegativeFloat, "must be a finite number >= 0, got the number nan"),
        (-0.5, PositiveInt | None, "expected int >= 1 | null, got the number -0.5"),
        (0, PositiveInt | None, "must be >= 1, got the integer 0"),
        ([8, 0], list[PositiveInt], "'1': must be >= 1, got the integer 0"),
        ({"a": -1.0}, dict[str, NonNegativeFloat], "'a': must be >= 0, got the number -1.0"),
        ("wide", PositiveInt, "expected int >= 1, got the string 'wide'"),
        (True, PositiveInt, "expected int >= 1, got the boolean true"),
    ],
)
def test_check_value_messages(value, annotation, message):
    assert check_value(value, annotation) == message


@pytest.mark.parametrize(
    "value, annotation", [(1, PositiveInt), (None, PositiveInt | None), (0, Probability), (3, PositiveFloat)]
)
def test_check_value_accepts_values_in_range(value, annotation):
    assert check_value(value, annotation) is None


# -- the built-in components -------------------------------------------------------------------------


def test_the_walk_sees_unranged_numbers():
    assert _unranged_number(int) and _unranged_number(list[float] | None) and _unranged_number(dict[str, float])
    assert not _unranged_number(PositiveInt | None) and not _unranged_number(list[Probability])
    assert not _unranged_number(bool) and not _unranged_number(Literal[1, 2]) and not _unranged_number(str)
    assert _unranged_number(int | list[PositiveInt]) and not _unranged_number(dict[str, Any])


@pytest.mark.parametrize("entry", _BUILTIN, ids=lambda e: f"{e.kind}-{e.name}")
def test_every_numeric_option_declares_a_range(entry: Entry):
    for option in entry.options:
        assert not isinstance(option.annotation, str), (
            f"{entry.kind} '{entry.name}': the annotation of '{option.name}' did not resolve, so its range is lost"
        )
        if (entry.kind, entry.name, option.name) in ANY_NUMBER:
            continue
        assert not _unranged_number(option.annotation), (
            f"{entry.kind} '{entry.name}': option '{option.name}' ({option.type_name}) declares no range;"
            " annotate it with mmzoo.constraints (or list it in ANY_NUMBER, with the reason)"
        )


def test_the_any_number_list_is_current():
    for (kind, name, option_name), reason in ANY_NUMBER.items():
        option = _REGISTRY.get(kind, name).option(option_name)
        assert option is not None, f"{kind} '{name}' has no option '{option_name}'"
        assert _unranged_number(option.annotation), f"{kind} '{name}' now declares a range on '{option_name}'"
        assert reason


@pytest.mark.parametrize("entry", _BUILTIN, ids=lambda e: f"{e.kind}-{e.name}")
def test_defaults_lie_in_their_ranges(entry: Entry):
    for option in entry.options:
        if option.default is not REQUIRED:
            assert check_value(_as_yaml(option.default), option.annotation) is None, (entry.name, option.name)


@pytest.mark.parametrize("entry", _ENTRIES, ids=lambda e: f"{e.kind}-{e.name}")
def test_example_options_validate(entry: Entry):
    options = {k: v for k, v in entry.example_options().items() if k not in CONTEXT_ARGS[entry.kind]}
    assert entry.check_options(options) == []


def test_trainer_ranges_name_trainer_options_and_admit_its_defaults():
    from lightning.pytorch import Trainer

    parameters = inspect.signature(Trainer.__init__).parameters
    for name, annotation in TRAINER_RANGES.items():
        assert name in parameters, name
        assert check_value(parameters[name].default, annotation) is None, name


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd", "rmsprop", "adagrad"])
def test_optimizer_ranges_admit_torch_defaults(name):
    from mmzoo.optim import resolve_optimizer

    parameters = inspect.signature(resolve_optimizer(name).__init__).parameters
    for option, annotation in OPTIMIZER_RANGES.items():
        if option in parameters:
            assert check_value(_as_yaml(parameters[option].default), annotation) is None, (name, option)


# -- mmzoo plugins show --------------------------------------------------------------------------------


def test_plugins_show_prints_the_ranges(capsys):
    assert main(["plugins", "show", "transformer"]) == EXIT_OK
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") > 2}
    assert "int >= 1" in rows["layers"]
    assert "float in [0, 1]" in rows["dropout"]
    assert "float > 0" in rows["mlp_ratio"]
