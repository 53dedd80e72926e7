"""Every registered component goes through its kind's contract check (timm-style)."""

from __future__ import annotations

import pytest

from mmzoo.plugins import load_registry
from mmzoo.registry import KINDS
from mmzoo.testing import check_entry, check_fusion

_REGISTRY = load_registry(warn=False)
_ENTRIES = [entry for kind in KINDS for entry in _REGISTRY.entries(kind)]


def test_every_kind_has_a_builtin_component():
    for kind in KINDS:
        assert _REGISTRY.names(kind), f"no built-in {kind}"


@pytest.mark.parametrize("entry", _ENTRIES, ids=lambda e: f"{e.kind}-{e.name}")
def test_component_contract(entry):
    check_entry(entry)


@pytest.mark.parametrize("entry", list(_REGISTRY.entries("fusion")), ids=lambda e: e.name)
def test_fusion_with_three_modalities(entry):
    check_fusion(entry, num_modalities=3)
