"""The sweep configuration of docs/wandb.md: the command line a W&B agent builds from it is one
``mmzoo fit`` accepts, and its overrides validate against the recipe."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from mmzoo.cli.main import build_parser
from mmzoo.recipe import load_recipe

from ..conftest import REPO


def _sweep_config() -> dict[str, Any]:
    page = (REPO / "docs" / "wandb.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "program: mmzoo" in b]
    return yaml.safe_load(block)


def _agent_command(sweep: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The command ``wandb agent`` runs for one set of parameter values.

    The macros are expanded as ``wandb.wandb_agent.Agent._command_run`` does: each ``${name}``
    element is replaced by the list ``create_sweep_command_args`` makes (or ``[program]``).
    """
    variables = create_sweep_command_args({"args": {name: {"value": value} for name, value in values.items()}})
    variables["program"] = [sweep["program"]]
    command: list[str] = []
    for element in create_sweep_command(sweep["command"]):
        element = str(element)
        if element.startswith("${") and element.endswith("}"):
            command += variables.get(element[2:-1]) or []
        else:
            command.append(element)
    return command


def test_the_documented_sweep_drives_mmzoo_fit():
    sweep = _sweep_config()
    assert sweep["program"] == "mmzoo" and sweep["metric"]["name"] == "val/label/accuracy"
    command = _agent_command(sweep, {"optimizer.lr": 0.001, "model.fusion.dim": 64})
    assert command == ["mmzoo", "fit", "recipes/quickstart.yaml", "logger.wandb.mode=online", "optimizer.lr=0.001",
                       "model.fusion.dim=64"]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"optimizer.lr": 0.001, "model.fusion.dim": 64}, {"optimizer.lr": 0.001, "model.fusion.dim": 64}),
        (
            {"optimizer.lr": 1e-05, "model.encoders.audio.layers": 3},
            {"optimizer.lr": 1e-05, "model.encoders.audio.layers": 3},
        ),
        ({"trainer.enable_progress_bar": False}, {"trainer.enable_progress_bar": False}),
        # Components switched or dropped through YAML text, as docs/wandb.md advises.
        ({"model.fusion": "{name: gated, dim: 64}"}, {"model.fusion": {"name": "gated", "dim": 64}}),
        ({"model.encoders.text": "null"}, {"model.encoders.text": None}),
        # What the agent writes for a mapping value (Python's repr) reads back as YAML too.
        ({"model.fusion": {"name": "gated", "dim": 32}}, {"model.fusion": {"name": "gated", "dim": 32}}),
    ],
)
def test_agent_command_lines_parse_and_validate(registry, values, expected):
    sweep = _sweep_config()
    command = _agent_command(sweep, values)
    args = build_parser().parse_args(command[1:])
    assert args.command == "fit" and args.recipe == "recipes/quickstart.yaml"
    recipe = load_recipe(REPO / args.recipe, args.overrides, registry)
    for key, value in expected.items():
        node: Any = recipe.data
        for part in key.split("."):
            node = node[part]
        assert node == value, key
    assert recipe.logger.wandb.mode == "online"
