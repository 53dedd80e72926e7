"""Shared fixtures: a registry of the installed plugins, tiny recipes, and an isolated run folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"

# Keep W&B quiet and offline whatever the machine's settings.
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["WANDB_MODE"] = "offline"
# The schema cache (mmzoo.registry_cache) goes to a folder of this session, not ~/.cache.
os.environ["MMZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmzoo-cache-")


@pytest.fixture(scope="session")
def registry():
    from mmzoo.plugins import load_registry

    return load_registry()


TINY_RECIPE = """\
seed: 3
run:
  root: {root}
  name: tiny
data:
  name: tones_and_words
  num_classes: 2
  train_size: 64
  val_size: 32
  test_size: 32
  batch_size: 16
model:
  encoders:
    audio: {{name: conv1d, dim: 16, layers: 1}}
    text: {{name: bag, dim: 16}}
  fusion: {{name: concat, dim: 16, hidden_dim: 32}}
  heads:
    label: {{name: classification, num_classes: 2}}
objectives:
  label: {{name: cross_entropy, head: label, target: label}}
optimizer: {{name: adamw, lr: 0.003}}
trainer:
  max_epochs: 2
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
logger:
  wandb: {{mode: disabled}}
"""


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    """A recipe that trains in a couple of seconds, writing runs under ``tmp_path/runs``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_RECIPE.format(root=tmp_path / "runs"))
    return path
