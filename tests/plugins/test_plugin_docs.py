"""What a plugin author reads agrees with the code: docs/plugins.md, the template's README and
plugin module, and the README."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from mmzoo import hookspecs
from mmzoo.contracts import ModalitySpec
from mmzoo.registry import CONTEXT_ARGS
from mmzoo.testing import contracts as kit

REPO = Path(__file__).resolve().parents[2]
PLUGINS_DOC = (REPO / "docs" / "plugins.md").read_text()
TEMPLATE = REPO / "plugins" / "mmzoo-plugin-template"
TEMPLATE_README = (TEMPLATE / "README.md").read_text()
TEMPLATE_PLUGIN = (TEMPLATE / "src" / "mmzoo_plugin_template" / "plugin.py").read_text()
HOOKS = [name for name in vars(hookspecs) if name.startswith("mmzoo_register_")]


def test_every_modality_spec_field_and_the_image_mask_are_documented():
    for field in dataclasses.fields(ModalitySpec):
        assert f"`{field.name}`" in PLUGINS_DOC, f"ModalitySpec.{field.name} is not in docs/plugins.md"
    assert "| `image` | float `(B, C, H, W)` | bool `(B, 1)`" in PLUGINS_DOC


def test_the_contract_kit_inputs_are_documented_as_the_kit_builds_them():
    assert f"features `feature_dim={kit._SPECS['features'].feature_dim}`" in PLUGINS_DOC
    assert f"tokens `vocab_size={kit._SPECS['tokens'].vocab_size}, pad_id={kit._SPECS['tokens'].pad_id}`" in PLUGINS_DOC
    height, width = kit._SPECS["image"].image_size
    assert f"image `channels={kit._SPECS['image'].channels}, image_size=({height}, {width})`" in PLUGINS_DOC
    assert "| objective | `heads={}`" in PLUGINS_DOC  # check_objective builds without heads


@pytest.mark.parametrize("text", [PLUGINS_DOC, TEMPLATE_README, TEMPLATE_PLUGIN], ids=["docs", "readme", "plugin.py"])
def test_a_misspelt_hook_is_described_as_what_happens(text):
    """A warning and the whole plugin skipped (tests/test_registry.py asserts the behaviour)."""
    assert not re.search(r"stop[s]? with an error|is an error \(mmzoo", text)
    assert re.search(r"misspelt hook name[^.]*(skips the whole plugin|skipped as a whole)", text.replace("\n", " "))


def test_the_template_readme_lists_every_hook_and_build_argument():
    for hook in HOOKS:
        assert f"`_{hook.removeprefix('mmzoo_register_')}`" in TEMPLATE_README or f"`{hook}`" in TEMPLATE_README, hook
    for argument in sorted({arg for args in CONTEXT_ARGS.values() for arg in args}):
        assert f"`{argument}`" in TEMPLATE_README, f"build argument {argument} is missing from the template README"


def test_the_readme_names_the_columns_mmzoo_plugins_prints():
    line = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("mmzoo plugins "))
    assert "kind, plugin, distribution, description" in line
