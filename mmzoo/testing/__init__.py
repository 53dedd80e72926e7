"""Helpers for testing mmzoo components, for mmzoo itself and for plugin authors."""

from mmzoo.testing.contracts import (
    check_datamodule,
    check_encoder,
    check_entry,
    check_fusion,
    check_head,
    check_objective,
    check_weighting,
    example_encoded,
    example_modality_input,
)
from mmzoo.testing.transforms import check_transform

__all__ = [
    "check_entry",
    "check_encoder",
    "check_fusion",
    "check_head",
    "check_objective",
    "check_datamodule",
    "check_weighting",
    "check_transform",
    "example_encoded",
    "example_modality_input",
]
