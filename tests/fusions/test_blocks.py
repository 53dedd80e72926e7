"""The parts every fusion builds on: the sorted modality order and the per-modality projections."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions._blocks import modality_order, modality_projections


def test_modality_order_sorts_and_counts():
    assert modality_order({"text": 3, "audio": 2}, "concat") == ["audio", "text"]
    with pytest.raises(ValueError, match="^concat fusion needs at least one modality$"):
        modality_order({}, "concat")
    with pytest.raises(ValueError, match="^mult fusion needs at least two modalities$"):
        modality_order({"audio": 2}, "mult", at_least=2)


def test_modality_projections_are_built_in_sorted_order():
    torch.manual_seed(0)
    proj = modality_projections({"text": 3, "audio": 2}, 4)
    assert list(proj) == ["audio", "text"]
    assert [tuple(layer.weight.shape) for layer in proj.values()] == [(4, 2), (4, 3)]
    torch.manual_seed(0)
    first = torch.nn.Linear(2, 4)  # the first one drawn is audio's, whatever the order of input_dims
    torch.testing.assert_close(proj["audio"].weight, first.weight)


def _fusion_names(registry) -> list[str]:
    return [entry.name for entry in registry.entries("fusion") if (entry.distribution or "").startswith("mmzoo ")]


def test_every_fusion_names_itself_when_modalities_are_wrong(registry):
    for name in _fusion_names(registry):
        entry = registry.get("fusion", name)
        with pytest.raises(ValueError, match=rf"^{name} fusion needs at least (one modality|two modalities)$"):
            entry.build(entry.example_options(), {"input_dims": {}})
        fusion = entry.build(entry.example_options(), {"input_dims": {"audio": 4, "text": 4}})
        mask = torch.ones(2, 3, dtype=torch.bool)
        audio = Encoded(seq=torch.randn(2, 3, 4), mask=mask, pooled=torch.randn(2, 4))
        with pytest.raises(
            KeyError, match=rf"{name} fusion expects modalities \['audio', 'text'\]; missing \['text'\]"
        ):
            fusion({"audio": audio})
